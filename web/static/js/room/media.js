// This person's own media: microphone, camera and screen, the chosen devices, and the
// mute / camera-off state. Dispatches "change" whenever a track or a state changes; the room
// then updates its senders, previews and media_state.

const CAMERA = { width: { ideal: 960 }, height: { ideal: 540 }, frameRate: { ideal: 30, max: 30 } };
const MICROPHONE = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };

/**
 * A sentence for a getUserMedia failure: `before` joining (with the preview's “Try again” button)
 * or once in the room (where the person presses the same control again).
 */
export function explainMediaError(error, what = "camera and microphone", before = true) {
  const retry = before ? "choose “Try again”" : "press the button again";
  switch (error && error.name) {
    case "NotAllowedError":
    case "SecurityError":
      return before
        ? `Your browser is not letting this page use your ${what}. You can still join: the others will not see or hear you until you allow it (usually with the camera icon in the address bar) and ${retry}.`
        : `Your browser is not letting this page use your ${what}. Allow it (usually with the camera icon in the address bar), then ${retry}.`;
    case "NotFoundError":
    case "OverconstrainedError":
      return before ? `No ${what} was found. You can still join, and listen and watch.` : `No ${what} was found.`;
    case "NotReadableError":
    case "AbortError":
      return `Your ${what} could not be started. Another app may be using it; close it and ${retry}.`;
    default:
      return before ? `Your ${what} could not be started. You can still join without it.` : `Your ${what} could not be started.`;
  }
}

export class LocalMedia extends EventTarget {
  constructor() {
    super();
    this.mic = null;
    this.cam = null;
    this.screen = null;
    this.micId = "";
    this.camId = "";
    this.muted = false;
    this.cameraOff = false;
    this.problem = ""; // the latest sentence about why some media is missing
    this.joined = false; // set by the room: wording of problems changes once in the room
  }

  get supported() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getUserMedia);
  }

  get canShareScreen() {
    return Boolean(navigator.mediaDevices && navigator.mediaDevices.getDisplayMedia);
  }

  /** What this person is sending, as media_state has it. */
  get state() {
    return {
      audio: Boolean(this.mic && !this.muted),
      video: Boolean(this.cam && !this.cameraOff),
      screen: Boolean(this.screen),
    };
  }

  /** Asks for microphone and camera (as many as are wanted and available). */
  async start() {
    this.problem = "";
    if (!this.supported) {
      this.problem = "This browser cannot use a camera or microphone here. You can still join, and listen and watch.";
      this.#changed();
      return;
    }
    const wantVideo = !this.cameraOff;
    try {
      const stream = await navigator.mediaDevices.getUserMedia({
        audio: this.#audioConstraints(),
        video: wantVideo ? this.#videoConstraints() : false,
      });
      this.#adopt(stream);
    } catch (error) {
      if (error && (error.name === "NotAllowedError" || error.name === "SecurityError")) {
        this.problem = explainMediaError(error);
      } else {
        // One of the two may be missing or busy: try each on its own.
        const failures = [];
        await this.#acquire("audio").catch((e) => failures.push(["microphone", e]));
        if (wantVideo) await this.#acquire("video").catch((e) => failures.push(["camera", e]));
        if (failures.length === (wantVideo ? 2 : 1)) this.problem = explainMediaError(error);
        else if (failures.length) this.problem = explainMediaError(failures[0][1], failures[0][0]);
      }
    }
    this.#changed();
  }

  async devices() {
    const result = { audioinput: [], videoinput: [] };
    if (!navigator.mediaDevices || !navigator.mediaDevices.enumerateDevices) return result;
    try {
      for (const device of await navigator.mediaDevices.enumerateDevices()) {
        if (device.kind in result && device.deviceId) result[device.kind].push(device);
      }
    } catch {
      // Leave the lists empty.
    }
    return result;
  }

  /** The device id of the track in use, or the one chosen. */
  currentDevice(kind) {
    const track = kind === "audioinput" ? this.mic : this.cam;
    const settings = track && track.getSettings ? track.getSettings() : {};
    return settings.deviceId || (kind === "audioinput" ? this.micId : this.camId);
  }

  async useMicrophone(deviceId) {
    this.micId = deviceId;
    await this.#acquire("audio");
    this.#changed();
  }

  async useCamera(deviceId) {
    this.camId = deviceId;
    if (this.cameraOff) return;
    await this.#acquire("video");
    this.#changed();
  }

  /** Mute keeps the track (enabled=false); unmuting without a microphone asks for one. */
  async setMuted(muted) {
    if (!muted && !this.mic) {
      try {
        await this.#acquire("audio");
      } catch (error) {
        this.problem = explainMediaError(error, "microphone", !this.joined);
        this.#changed();
        throw error;
      }
    }
    this.muted = muted;
    if (this.mic) this.mic.enabled = !muted;
    this.#changed();
  }

  /** Camera off stops the track (the camera light goes off); on asks for the camera again. */
  async setCameraOff(off) {
    if (off) {
      this.cameraOff = true;
      this.#stopTrack("cam");
    } else {
      try {
        await this.#acquire("video");
      } catch (error) {
        this.problem = explainMediaError(error, "camera", !this.joined);
        this.#changed();
        throw error;
      }
      this.cameraOff = false;
    }
    this.#changed();
  }

  async startScreen() {
    const stream = await navigator.mediaDevices.getDisplayMedia({ video: { frameRate: { ideal: 15, max: 30 } }, audio: false });
    const track = stream.getVideoTracks()[0];
    for (const extra of stream.getTracks()) if (extra !== track) extra.stop();
    if (!track) return;
    if ("contentHint" in track) track.contentHint = "detail";
    this.#stopTrack("screen");
    this.screen = track;
    // The browser's own "Stop sharing" ends the track.
    track.addEventListener("ended", () => {
      if (this.screen === track) {
        this.screen = null;
        this.#changed();
      }
    });
    this.#changed();
  }

  stopScreen() {
    if (!this.screen) return;
    this.#stopTrack("screen");
    this.#changed();
  }

  stopAll() {
    this.#stopTrack("mic");
    this.#stopTrack("cam");
    this.#stopTrack("screen");
    this.#changed();
  }

  #audioConstraints() {
    return this.micId ? { ...MICROPHONE, deviceId: { exact: this.micId } } : { ...MICROPHONE };
  }

  #videoConstraints() {
    return this.camId ? { ...CAMERA, deviceId: { exact: this.camId } } : { ...CAMERA, facingMode: "user" };
  }

  async #acquire(kind) {
    const constraints = kind === "audio" ? { audio: this.#audioConstraints() } : { video: this.#videoConstraints() };
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia(constraints);
    } catch (error) {
      if (error && error.name === "OverconstrainedError" && (kind === "audio" ? this.micId : this.camId)) {
        // The chosen device went away: take the default one.
        if (kind === "audio") this.micId = "";
        else this.camId = "";
        return this.#acquire(kind);
      }
      throw error;
    }
    this.#adopt(stream);
  }

  #adopt(stream) {
    const mic = stream.getAudioTracks()[0];
    const cam = stream.getVideoTracks()[0];
    if (mic) {
      this.#stopTrack("mic");
      mic.enabled = !this.muted;
      this.mic = mic;
      this.#watchEnd(mic, "mic");
      this.problem = "";
    }
    if (cam) {
      this.#stopTrack("cam");
      this.cam = cam;
      this.#watchEnd(cam, "cam");
      this.problem = "";
    }
  }

  // A device unplugged mid-call ends its track: fall back to the default one.
  #watchEnd(track, slot) {
    track.addEventListener("ended", async () => {
      if (this[slot] !== track) return;
      this[slot] = null;
      if (slot === "mic") this.micId = "";
      else this.camId = "";
      this.#changed();
      try {
        await this.#acquire(slot === "mic" ? "audio" : "video");
        this.#changed();
      } catch {
        // Nothing else to use; the person can pick another device.
      }
    });
  }

  #stopTrack(slot) {
    const track = this[slot];
    this[slot] = null;
    if (track) track.stop();
  }

  #changed() {
    this.dispatchEvent(new Event("change"));
  }
}
