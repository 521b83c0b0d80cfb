// The tiles of the room: one per participant in a responsive grid (the own tile shows the local
// camera, mirrored), a large tile per shared screen above it, and one <audio autoplay> per remote
// participant. Everything is built with DOM calls and textContent: names are never parsed as HTML.

const QUALITY_WORDS = { good: "Good", fair: "Fair", poor: "Poor" };

/** Names a button after its visible text and whom it acts on ("Send to lobby: Alex Doe"): the
 * accessible name starts with the words on the button, so voice control finds it by them. */
export function nameFor(button, person) {
  button.setAttribute("aria-label", `${button.textContent.trim()}: ${person || "this person"}`);
}

const el = (tag, className, text) => {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
};

const initials = (name) =>
  String(name || "?")
    .replace(/^(dr|mr|mrs|ms|mx)\.?\s+/i, "")
    .split(/\s+/)
    .filter(Boolean)
    .map((word) => word[0])
    .filter((_, i, all) => i === 0 || i === all.length - 1)
    .join("")
    .toUpperCase() || "?";

function makeVideo(mirror) {
  const video = el("video", mirror ? "tile-video mirrored" : "tile-video");
  video.autoplay = true;
  video.muted = true; // sound goes through the participant's <audio> element
  video.playsInline = true;
  video.setAttribute("playsinline", "");
  video.setAttribute("aria-hidden", "true");
  return video;
}

// Counts presented frames (requestVideoFrameCallback) for the data-video-frames test hook;
// registered afresh for every new track.
function countFrames(entry) {
  const video = entry.video;
  if (!("requestVideoFrameCallback" in video)) return;
  if (entry.rvfcHandle !== null) video.cancelVideoFrameCallback(entry.rvfcHandle);
  entry.counting = true;
  const step = () => {
    if (!entry.counting) return;
    entry.rvfcFrames += 1;
    entry.rvfcHandle = video.requestVideoFrameCallback(step);
  };
  entry.rvfcHandle = video.requestVideoFrameCallback(step);
}

function attach(video, track) {
  const current = video.srcObject ? video.srcObject.getTracks()[0] : null;
  if (current === (track || null)) return false;
  video.srcObject = track ? new MediaStream([track]) : null;
  if (track) video.play().catch(() => {});
  return true;
}

export class Tiles {
  /**
   * @param {{grid: HTMLElement, stage: HTMLElement, audioSink: HTMLElement, onPlayBlocked: () => void}} parts
   */
  constructor({ grid, stage, audioSink, onPlayBlocked }) {
    this.grid = grid;
    this.stage = stage;
    this.audioSink = audioSink;
    this.onPlayBlocked = onPlayBlocked;
    this.tiles = new Map(); // participant id → entry
    this.screens = new Map(); // participant id → {figure, video}
    this.audios = new Map(); // participant id → <audio>
  }

  has(id) {
    return this.tiles.has(id);
  }

  ids() {
    return [...this.tiles.keys()];
  }

  /**
   * Creates or updates a participant's tile.
   * @param {{participant: string, name: string, role: string, host: boolean, audio: boolean, video: boolean, screen: boolean}} p
   * @param {{self: boolean, hostControls: boolean}} options
   */
  upsert(p, { self = false, hostControls = false } = {}) {
    let entry = this.tiles.get(p.participant);
    if (!entry) {
      entry = this.#create(p.participant, self);
      this.tiles.set(p.participant, entry);
      this.grid.append(entry.tile);
    }
    const { tile } = entry;
    tile.dataset.role = p.role || "";
    if (p.host) tile.dataset.host = "true";
    else delete tile.dataset.host;
    entry.person.textContent = p.name || "Someone";
    entry.you.hidden = !self;
    entry.role.textContent = p.host ? (p.role ? `${p.role} (host)` : "Host") : p.role || "";
    entry.initials.textContent = initials(p.name);
    entry.micOff.hidden = Boolean(p.audio);
    entry.camOff.hidden = Boolean(p.video);
    entry.sharing.hidden = !p.screen;
    tile.classList.toggle("camera-off", !p.video || !entry.hasVideo);
    entry.expectVideo = Boolean(p.video);
    this.#hostControls(entry, p, hostControls && !self);
    this.grid.classList.toggle("is-crowded", this.tiles.size > 4);
    this.grid.dataset.count = String(this.tiles.size);
    return entry;
  }

  /** The camera track shown in a tile (null: none). */
  setVideo(id, track) {
    const entry = this.tiles.get(id);
    if (!entry) return;
    if (!attach(entry.video, track)) return;
    entry.base = entry.reported;
    entry.hasVideo = Boolean(track);
    entry.tile.classList.toggle("camera-off", !entry.expectVideo || !track);
    if (track) countFrames(entry);
  }

  /** A remote participant's sound, through an <audio autoplay> of their own. */
  setAudio(id, track) {
    let audio = this.audios.get(id);
    if (!track) {
      if (audio) {
        audio.srcObject = null;
        audio.remove();
        this.audios.delete(id);
      }
      return;
    }
    if (!audio) {
      audio = el("audio");
      audio.autoplay = true;
      audio.dataset.audioOf = id;
      this.audios.set(id, audio);
      this.audioSink.append(audio);
    }
    const current = audio.srcObject ? audio.srcObject.getTracks()[0] : null;
    if (current !== track) {
      audio.srcObject = new MediaStream([track]);
      audio.play().catch((error) => {
        if (error && error.name === "NotAllowedError") this.onPlayBlocked();
      });
    }
  }

  /** Plays every remote <audio> again (after the browser blocked autoplay). */
  playAll() {
    for (const audio of this.audios.values()) audio.play().catch(() => {});
  }

  /** A shared screen as its own large tile (null removes it). */
  setScreen(id, track, caption) {
    let screen = this.screens.get(id);
    if (!track) {
      if (screen) {
        screen.video.srcObject = null;
        screen.figure.remove();
        this.screens.delete(id);
      }
      this.stage.hidden = this.screens.size === 0;
      return;
    }
    if (!screen) {
      const figure = el("figure", "screen-tile");
      figure.dataset.screenOf = id;
      figure.dataset.videoFrames = "0";
      const video = makeVideo(false);
      video.classList.replace("tile-video", "screen-video");
      const label = el("figcaption", "screen-caption");
      figure.append(video, label);
      screen = { figure, video, label };
      this.screens.set(id, screen);
      this.stage.append(figure);
    }
    screen.label.textContent = caption;
    attach(screen.video, track);
    this.stage.hidden = false;
  }

  setSpeaking(id, speaking) {
    const entry = this.tiles.get(id);
    if (!entry) return;
    entry.tile.classList.toggle("is-speaking", speaking);
    if (speaking) entry.tile.dataset.speaking = "true";
    else delete entry.tile.dataset.speaking;
  }

  setQuality(id, quality) {
    const entry = this.tiles.get(id);
    if (!entry) return;
    entry.quality.hidden = !quality;
    entry.quality.className = `tile-quality quality-${quality || "unknown"}`;
    entry.qualityWord.textContent = QUALITY_WORDS[quality] || "";
  }

  /** Test hooks: the inbound audio's totalSamplesReceived (which grows during loss concealment
   * too) and packetsReceived (which grows only with real packets). */
  setAudioStats(id, samples, packets) {
    const entry = this.tiles.get(id);
    if (!entry) return;
    entry.tile.dataset.audioSamples = String(samples);
    entry.tile.dataset.audioPackets = String(packets);
  }

  /** Updates data-video-frames on every tile (monotonic, survives a change of track) and screen. */
  sampleFrames() {
    for (const screen of this.screens.values()) {
      try {
        screen.figure.dataset.videoFrames = String(screen.video.getVideoPlaybackQuality().totalVideoFrames || 0);
      } catch {
        // Not supported: leave it.
      }
    }
    for (const entry of this.tiles.values()) {
      let decoded = 0;
      try {
        decoded = entry.video.getVideoPlaybackQuality().totalVideoFrames || 0;
      } catch {
        decoded = 0;
      }
      entry.reported = Math.max(entry.reported, entry.rvfcFrames, entry.base + decoded);
      entry.tile.dataset.videoFrames = String(entry.reported);
    }
  }

  remove(id) {
    const entry = this.tiles.get(id);
    if (entry) {
      entry.counting = false;
      entry.video.srcObject = null;
      entry.tile.remove();
      this.tiles.delete(id);
    }
    this.setScreen(id, null);
    this.setAudio(id, null);
    this.grid.classList.toggle("is-crowded", this.tiles.size > 4);
    this.grid.dataset.count = String(this.tiles.size);
  }

  /** Removes every tile, screen and sound except those of `keep`. */
  clear(keep = null) {
    for (const id of [...this.tiles.keys(), ...this.screens.keys(), ...this.audios.keys()]) {
      if (id !== keep) this.remove(id);
    }
  }

  #create(id, self) {
    const tile = el("div", self ? "tile tile-self" : "tile");
    tile.setAttribute("role", "listitem");
    tile.dataset.participant = id;
    if (self) tile.dataset.self = "true";
    tile.dataset.videoFrames = "0";
    if (!self) {
      tile.dataset.audioSamples = "0";
      tile.dataset.audioPackets = "0";
    }

    const media = el("div", "tile-media");
    const video = makeVideo(self);
    const placeholder = el("div", "tile-placeholder");
    placeholder.setAttribute("aria-hidden", "true");
    const initialsEl = el("span", "tile-initials");
    placeholder.append(initialsEl);
    media.append(video, placeholder);

    const info = el("div", "tile-info");
    const nameLine = el("p", "tile-name");
    const person = el("span", "tile-person");
    const you = el("span", "tile-you", " (you)");
    const role = el("span", "tile-role");
    nameLine.append(person, you, el("span", "visually-hidden", ", "), role);

    const flags = el("p", "tile-flags");
    const micOff = el("span", "badge badge-warning", "Muted");
    const camOff = el("span", "badge badge-warning", "Camera off");
    const sharing = el("span", "badge", "Sharing screen");
    const quality = el("span", "tile-quality");
    quality.hidden = true;
    quality.title = "Connection quality";
    const qualityLabel = el("span", "visually-hidden", "Connection: ");
    const qualityWord = el("span", "quality-word");
    quality.append(qualityLabel, qualityWord);
    flags.append(micOff, camOff, sharing, quality);

    const actions = el("div", "tile-actions");
    actions.hidden = true;
    info.append(nameLine, flags, actions);
    tile.append(media, info);

    return {
      tile,
      video,
      initials: initialsEl,
      person,
      you,
      role,
      micOff,
      camOff,
      sharing,
      quality,
      qualityWord,
      actions,
      expectVideo: false,
      hasVideo: false,
      counting: false,
      rvfcHandle: null,
      rvfcFrames: 0,
      base: 0,
      reported: 0,
      buttons: null,
    };
  }

  #hostControls(entry, p, show) {
    entry.actions.hidden = !show;
    if (!show) {
      entry.actions.replaceChildren();
      entry.buttons = null;
      return;
    }
    if (!entry.buttons) {
      const mute = el("button", "button secondary small", "Ask to mute");
      mute.type = "button";
      mute.dataset.action = "ask-to-mute";
      mute.dataset.kind = "audio";
      const lobby = el("button", "button secondary small", "Send to lobby");
      lobby.type = "button";
      lobby.dataset.action = "send-to-lobby";
      entry.actions.replaceChildren(mute, lobby);
      entry.buttons = { mute, lobby };
    }
    nameFor(entry.buttons.mute, p.name);
    nameFor(entry.buttons.lobby, p.name);
    // Asking someone already muted to mute makes no sense.
    entry.buttons.mute.hidden = !p.audio;
  }
}
