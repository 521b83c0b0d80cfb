// Peer-connection helpers: configuration from "welcome", and waiting for ICE gathering (no trickle).

const GATHER_TIMEOUT_MS = 3000;

/** RTCConfiguration from the welcome message's ice_servers and ice_transport_policy. */
export function rtcConfiguration(welcome) {
  const iceServers = (Array.isArray(welcome.ice_servers) ? welcome.ice_servers : [])
    .filter((server) => server && server.urls)
    .map(({ urls, username, credential }) => {
      const entry = { urls };
      if (username != null) entry.username = username;
      if (credential != null) entry.credential = credential;
      return entry;
    });
  return {
    iceServers,
    iceTransportPolicy: welcome.ice_transport_policy === "relay" ? "relay" : "all",
  };
}

/** Resolves when ICE gathering is complete, or after about 3 s, whichever comes first. */
export function iceGatheringDone(pc, timeoutMs = GATHER_TIMEOUT_MS) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", onState);
      pc.removeEventListener("icecandidate", onCandidate);
      resolve();
    };
    const onState = () => {
      if (pc.iceGatheringState === "complete") finish();
    };
    const onCandidate = (event) => {
      if (!event.candidate) finish();
    };
    const timer = setTimeout(finish, timeoutMs);
    pc.addEventListener("icegatheringstatechange", onState);
    pc.addEventListener("icecandidate", onCandidate);
  });
}

/** Caps a sender's bitrate; quietly does nothing where the browser does not allow it. */
export async function capBitrate(sender, maxBitrate) {
  try {
    const params = sender.getParameters();
    if (!params.encodings || params.encodings.length === 0) return;
    for (const encoding of params.encodings) encoding.maxBitrate = maxBitrate;
    await sender.setParameters(params);
  } catch {
    // Not essential.
  }
}
