"""Monthly care time: minutes clinicians spent in joint sessions and case reviews, per patient per month."""
