// The video room (web/templates/rtc/room.html.j2): device preview, lobby, and the room itself.
//
// Signaling is JSON over a WebSocket (conference/rtc/signaling.py, protocol v1). Each participant
// has two peer connections: "publish" (we offer; microphone, camera and screen upstream, in that
// transceiver order, all sendonly) and "subscribe" (the server offers; everyone else's media). No
// trickle ICE: descriptions are sent once gathering is complete (or after 3 s). Screen sharing and
// camera on/off use sender.replaceTrack, so the publish connection is negotiated once.
// Modules: room/signal.js (socket, heartbeat, resume and reconnect), room/media.js (own devices),
// room/tiles.js (tiles, screens, remote <audio>), room/levels.js (mic meter, speaking),
// room/stats.js (audio samples, quality hints), room/peer.js (ICE helpers).
//
// Test hooks (end-to-end tests rely on these; keep them stable):
//   #room[data-state]         "preview" | "connecting" | "lobby" | "in-room" | "ended"
//                             ("connecting" also while reconnecting after a drop)
//   #join-button              joins (from the preview)
//   button[data-action="leave"]   the only leave button (sends leave, goes to the leave URL)
//   #room-status              aria-live status region: announcements and error messages
//   #room-ended               the message when declined, removed, or the connection was lost
//   #lobby-message            the lobby's waiting message
//   .tile[data-participant="<uuid>"][data-role="<role>"]   one per participant in the roster;
//                             the own tile also has data-self="true" (remote: .tile:not([data-self])),
//                             a host's (roster "host": true) data-host="true" and "(host)" after the role
//     video                   the camera (a descendant <video>, present even when the camera is off)
//     [data-video-frames]     frames shown so far, updated every second (never goes down)
//     [data-audio-samples]    remote tiles: inbound-rtp totalSamplesReceived of their audio mid,
//                             updated every second (note: it also grows while the receiver conceals
//                             lost packets, so pair it with data-audio-packets to prove real audio)
//     [data-audio-packets]    remote tiles: that inbound-rtp's packetsReceived, every second
//     [data-speaking="true"]  while the person is heard (also class is-speaking)
//     button[data-action="send-to-lobby"], button[data-action="ask-to-mute"]   seen by hosts, on the
//                             tiles of people who are not hosts; named "Send to lobby: <name>",
//                             "Ask to mute: <name>" (every aria-label starts with the button's text)
//   figure.screen-tile[data-screen-of="<uuid>"] video   a remote participant's shared screen
//                             (shown while the roster says screen: true), with data-video-frames
//   audio[data-audio-of="<uuid>"]   a remote participant's sound (in #room-audio)
//   #lobby-panel li[data-participant="<uuid>"]   hosts: who waits, with
//     button[data-action="admit"] and button[data-action="decline"]   ("Admit: <name>", "Decline: <name>")
//   #mic-button, #camera-button, #screen-button   toggles with aria-pressed="true" when muted,
//                             camera off, sharing (data-action toggle-mic / toggle-camera / toggle-screen);
//                             named by their visible words ("Mute", "Stop camera", "Share screen"), never relabelled
//   #mute-request             shown on "mute_requested"; button[data-action="accept-mute"] complies

import { CLOSE, REMOVAL, Signal } from "./room/signal.js";
import { rtcConfiguration, iceGatheringDone, capBitrate } from "./room/peer.js";
import { LevelMonitor, resumeAudio } from "./room/levels.js";
import { LocalMedia } from "./room/media.js";
import { Tiles, nameFor } from "./room/tiles.js";
import { inboundByMid, remoteQuality, publishQuality } from "./room/stats.js";

const INFO_MS = 12_000; // how long an informative announcement stays on screen
// Closed for good (no reconnecting after any 4xxx code); after these, joining again will not help.
const CLOSE_FINAL = new Set([CLOSE.RESUMED_ELSEWHERE, CLOSE.REFUSED, CLOSE.NOT_FOUND]);
// Headings of the ended view after a "removed" message; the server's message says the rest.
const REMOVED_HEADINGS = {
  [REMOVAL.ROOM_CLOSED]: "The room has closed",
  [REMOVAL.JOINED_ELSEWHERE]: "Open in another window",
};

const root = document.getElementById("room");
if (root && root.dataset.signalUrl) run(root);

function run(root) {
  const $ = (id) => document.getElementById(id);
  const config = {
    signalUrl: root.dataset.signalUrl,
    leaveUrl: root.dataset.leaveUrl || "/",
  };
  const ui = {
    status: $("room-status"),
    previewVideo: $("preview-video"),
    previewOff: $("preview-off"),
    level: $("mic-level"),
    levelBar: $("mic-level-bar"),
    levelHint: $("mic-level-hint"),
    problem: $("media-problem"),
    problemText: $("media-problem-text"),
    cameraSelect: $("camera-select"),
    micSelect: $("microphone-select"),
    joinMuted: $("join-muted"),
    joinCameraOff: $("join-camera-off"),
    joinButton: $("join-button"),
    connectingHeading: $("connecting-heading"),
    connectingText: $("connecting-text"),
    lobbyMessage: $("lobby-message"),
    lobbyVideo: $("lobby-video"),
    muteRequest: $("mute-request"),
    muteRequestText: $("mute-request-text"),
    muteRequestAccept: $("mute-request-accept"),
    audioBlocked: $("audio-blocked"),
    lobbyPanel: $("lobby-panel"),
    lobbyHeading: $("lobby-panel-heading"),
    lobbyCount: $("lobby-count"),
    lobbyEmpty: $("lobby-empty"),
    lobbyList: $("lobby-list"),
    endedHeading: $("ended-heading"),
    ended: $("room-ended"),
    rejoin: $("rejoin-button"),
    micButton: $("mic-button"),
    cameraButton: $("camera-button"),
    screenButton: $("screen-button"),
  };

  const me = {
    id: null,
    name: root.dataset.name || "You",
    role: root.dataset.role || "",
    host: root.dataset.host === "true",
  };

  const media = new LocalMedia();
  const tiles = new Tiles({
    grid: $("room-tiles"),
    stage: $("room-stage"),
    audioSink: $("room-audio"),
    onPlayBlocked: () => {
      ui.audioBlocked.hidden = false;
    },
  });
  const SELF = "self"; // the level monitor's key for the own microphone
  let meterAnnounced = 0;
  const levels = new LevelMonitor(
    (key, level) => {
      if (key !== SELF) return;
      ui.levelBar.style.transform = `scaleX(${level.toFixed(3)})`;
      const now = performance.now();
      if (now - meterAnnounced > 500) {
        meterAnnounced = now;
        ui.level.setAttribute("aria-valuenow", String(Math.round(level * 100)));
      }
    },
    (key, speaking) => {
      const id = key === SELF ? me.id : key;
      if (id) tiles.setSpeaking(id, speaking);
    },
  );

  let state = "preview";
  let signal = null;
  let rtcConfig = null;
  let pub = null; // {pc, audio, camera, screen}: the publish connection and its three senders
  let sub = null; // the subscribe connection
  let subTracks = new Map(); // mid → {participant, source}, from the latest subscribe offer
  let subChain = Promise.resolve(); // subscribe offers and candidates, one at a time
  let generation = 0; // bumped whenever the peer connections are torn down
  let attached = new Map(); // participant → {microphone, camera, screen} tracks now shown
  let roster = { participants: [], lobby: [] };
  let rosterSeen = false;
  let lobbySeen = new Set();
  let lastMediaState = "";
  let resumedPlace = false;
  let ending = false;
  let statsTimer = null;
  let statsTick = 0;
  let statsBusy = false;
  let prevInbound = new Map();
  let disconnectTimer = null;
  let lastError = "";

  // ---- status and views ------------------------------------------------------------------------

  let announceTimer = null;
  let clearTimer = null;
  // Says `text` in the status region. Information clears itself after a while; warnings and
  // errors stay until something else is said.
  function announce(text, kind = "info") {
    clearTimeout(announceTimer);
    clearTimeout(clearTimer);
    ui.status.dataset.kind = kind;
    // Emptied first, so the same sentence twice is still read out.
    ui.status.textContent = "";
    announceTimer = setTimeout(() => {
      ui.status.textContent = text;
      if (kind === "info" && state !== "ended") {
        clearTimer = setTimeout(() => {
          ui.status.textContent = "";
        }, INFO_MS);
      }
    }, 50);
  }

  function setState(next) {
    if (state === next) return;
    state = next;
    root.dataset.state = next;
    ui.screenButton.hidden = !media.canShareScreen || next !== "in-room";
    // If focus was on something that just disappeared, put it on the new view's heading.
    const active = document.activeElement;
    if (!active || active === document.body || !active.getClientRects().length) {
      const heading = root.querySelector(`[data-view~="${next}"] [data-view-heading]`);
      if (heading) heading.focus();
    }
  }

  // ---- own media -------------------------------------------------------------------------------

  const show = (video, track) => {
    const current = video.srcObject ? video.srcObject.getTracks()[0] : null;
    if (current === (track || null)) return;
    video.srcObject = track ? new MediaStream([track]) : null;
    if (track) video.play().catch(() => {});
  };

  function syncMedia() {
    const camera = media.cameraOff ? null : media.cam;
    show(ui.previewVideo, camera);
    show(ui.lobbyVideo, camera);
    ui.lobbyVideo.parentElement.hidden = !camera;
    ui.previewOff.hidden = Boolean(camera);
    ui.previewOff.textContent = media.cameraOff ? "Your camera is off" : "No camera picture";
    ui.problem.hidden = !media.problem;
    ui.problemText.textContent = media.problem;
    ui.levelHint.textContent = !media.mic
      ? "No microphone is in use."
      : media.muted
        ? "Your microphone is muted."
        : "Say something: the bar moves when your microphone hears you.";
    ui.joinMuted.checked = media.muted;
    ui.joinCameraOff.checked = media.cameraOff;

    const { audio, video, screen } = media.state;
    ui.micButton.setAttribute("aria-pressed", String(!audio));
    ui.cameraButton.setAttribute("aria-pressed", String(!video));
    ui.screenButton.setAttribute("aria-pressed", String(screen));

    levels.watch(SELF, media.mic);
    syncSenders();
    syncSelfTile();
    sendMediaState();
  }

  function replace(sender, track) {
    if (sender && sender.track !== track) sender.replaceTrack(track).catch(() => {});
  }

  function syncSenders() {
    if (!pub) return;
    replace(pub.audio, media.mic);
    replace(pub.camera, media.cameraOff ? null : media.cam);
    replace(pub.screen, media.screen);
  }

  function sendMediaState(force = false) {
    if (!signal || !pub) return;
    const current = media.state;
    const key = JSON.stringify(current);
    if (!force && key === lastMediaState) return;
    if (signal.send({ type: "media_state", ...current })) lastMediaState = key;
  }

  async function refreshDevices() {
    const { audioinput, videoinput } = await media.devices();
    const fill = (select, devices, current, noun) => {
      const options = devices.map(
        (device, i) => new Option(device.label || `${noun} ${i + 1}`, device.deviceId, false, device.deviceId === current),
      );
      if (!options.length) options.push(new Option(`No ${noun.toLowerCase()} available`, ""));
      select.replaceChildren(...options);
      select.disabled = devices.length === 0;
    };
    fill(ui.cameraSelect, videoinput, media.currentDevice("videoinput"), "Camera");
    fill(ui.micSelect, audioinput, media.currentDevice("audioinput"), "Microphone");
  }

  async function startMedia() {
    media.muted = ui.joinMuted.checked;
    media.cameraOff = ui.joinCameraOff.checked;
    await media.start();
    await refreshDevices();
    resumeAudio();
  }

  // Runs a media change the person asked for; a refusal is said, never thrown.
  async function attempt(change) {
    try {
      await change();
    } catch (error) {
      if (state !== "preview") announce(media.problem || "That did not work. Please try again.", "error");
    }
    refreshDevices();
  }

  media.addEventListener("change", syncMedia);
  if (navigator.mediaDevices && navigator.mediaDevices.addEventListener) {
    navigator.mediaDevices.addEventListener("devicechange", refreshDevices);
  }
  ui.cameraSelect.addEventListener("change", () => attempt(() => media.useCamera(ui.cameraSelect.value)));
  ui.micSelect.addEventListener("change", () => attempt(() => media.useMicrophone(ui.micSelect.value)));
  ui.joinMuted.addEventListener("change", () => attempt(() => media.setMuted(ui.joinMuted.checked)));
  ui.joinCameraOff.addEventListener("change", () => attempt(() => media.setCameraOff(ui.joinCameraOff.checked)));
  // Browsers keep audio suspended until the person does something.
  document.addEventListener("pointerdown", resumeAudio, { capture: true });
  document.addEventListener("keydown", resumeAudio, { capture: true });

  // ---- joining and the signaling channel ---------------------------------------------------------

  function join() {
    if (signal) return;
    resumeAudio();
    media.joined = true;
    ending = false;
    ui.connectingHeading.textContent = "Connecting to the room…";
    ui.connectingText.textContent = "This takes a few seconds.";
    setState("connecting");
    const url = `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}${config.signalUrl}`;
    signal = new Signal(url, {
      message: onMessage,
      dropped: onDropped,
      reconnecting: () => {},
      lost: () =>
        end({
          heading: "The connection was lost",
          message: "The connection to the room was lost and could not be restored. Check your internet connection, then join again.",
          rejoin: true,
          keepPlace: true,
        }),
      fatal: (event) =>
        end(
          event.code === CLOSE.RESUMED_ELSEWHERE
            ? { heading: "Open in another window", message: "You joined this meeting from another window or device." }
            : {
                heading: "You are not in the room",
                message: lastError || "The room closed the connection.",
                rejoin: !CLOSE_FINAL.has(event.code),
              },
        ),
    });
    signal.connect();
    startStats();
  }

  function onDropped() {
    if (ending) return;
    teardownPeers();
    tiles.clear();
    ui.lobbyPanel.hidden = true;
    ui.muteRequest.hidden = true;
    ui.connectingHeading.textContent = "Reconnecting…";
    ui.connectingText.textContent = "The connection dropped. Your place is kept while we reconnect.";
    setState("connecting");
    announce("Reconnecting…", "warning");
  }

  function onMessage(msg, { resumed }) {
    switch (msg.type) {
      case "welcome":
        me.id = String(msg.participant);
        if (msg.name) me.name = msg.name;
        if (msg.role) me.role = msg.role;
        me.host = Boolean(msg.host);
        rtcConfig = rtcConfiguration(msg);
        rosterSeen = false;
        lobbySeen = new Set();
        resumedPlace = resumed;
        if (resumed) announce("Reconnected.");
        break;
      case "waiting":
        onWaiting(msg);
        break;
      case "admitted":
        onAdmitted();
        break;
      case "declined":
        end({ heading: "You were not let in", message: msg.message || "The care team did not let you in to this meeting." });
        break;
      case "removed":
        // Every removal is final: joining again would only be refused or replace the other window.
        end({
          heading: REMOVED_HEADINGS[msg.code] || "You are no longer in the room",
          message: msg.message || "Your place in this meeting has ended.",
        });
        break;
      case "roster":
        onRoster(msg);
        break;
      case "answer":
        if (msg.pc === "publish") onPublishAnswer(msg.sdp);
        break;
      case "offer":
        if (msg.pc === "subscribe") queueSubscribe(msg);
        break;
      case "ice":
        onRemoteCandidate(msg);
        break;
      case "mute_requested":
        onMuteRequested(msg);
        break;
      case "error":
        lastError = msg.message || "";
        announce(msg.message || "Something went wrong.", "error");
        break;
      default:
        // "heartbeat" acknowledgements and anything newer: nothing to do.
        break;
    }
  }

  function onWaiting(msg) {
    const wasInRoom = state === "in-room";
    teardownPeers();
    media.stopScreen();
    tiles.clear();
    rosterSeen = false;
    ui.lobbyPanel.hidden = true;
    ui.muteRequest.hidden = true;
    const message = msg.message || "Your care team will let you in shortly.";
    ui.lobbyMessage.textContent = message;
    setState("lobby");
    announce(wasInRoom ? `You are back in the waiting room. ${message}` : message);
  }

  function onAdmitted() {
    if (state === "in-room" && pub) return;
    rosterSeen = false;
    setState("in-room");
    renderRoster();
    announce(resumedPlace ? "You are back in the room." : "You are in the room.");
    startPublish().catch(() => {
      announce("Your camera and microphone could not be connected to the room. Leave and join again.", "error");
    });
  }

  function leave() {
    ending = true;
    if (signal) {
      signal.send({ type: "leave" });
      signal.resumeToken = null;
      signal.close();
    }
    shutDown();
    location.assign(config.leaveUrl);
  }

  function end({ heading, message, rejoin = false, keepPlace = false }) {
    ending = true;
    if (signal) {
      if (!keepPlace) signal.resumeToken = null;
      signal.close();
    }
    shutDown();
    ui.endedHeading.textContent = heading;
    ui.ended.textContent = message;
    ui.rejoin.hidden = !rejoin;
    setState("ended");
    announce(message, rejoin ? "warning" : "info");
  }

  function shutDown() {
    stopStats();
    teardownPeers();
    tiles.clear();
    levels.clear();
    media.stopAll();
    ui.lobbyPanel.hidden = true;
    ui.muteRequest.hidden = true;
    ui.audioBlocked.hidden = true;
  }

  // ---- peer connections ------------------------------------------------------------------------

  function teardownPeers() {
    generation += 1;
    clearTimeout(disconnectTimer);
    if (pub) pub.pc.close();
    if (sub) sub.close();
    pub = null;
    sub = null;
    subTracks = new Map();
    subChain = Promise.resolve();
    prevInbound = new Map();
    lastMediaState = "";
    for (const id of attached.keys()) levels.unwatch(id);
    attached = new Map();
  }

  // A connection that failed (or stays disconnected) is rebuilt by reconnecting the whole session:
  // the server gives our place back on a resumed join.
  function watchConnection(pc) {
    pc.addEventListener("connectionstatechange", () => {
      if (pc !== (pub && pub.pc) && pc !== sub) return;
      clearTimeout(disconnectTimer);
      if (pc.connectionState === "failed") {
        signal && signal.restart();
      } else if (pc.connectionState === "disconnected") {
        disconnectTimer = setTimeout(() => {
          if (pc.connectionState === "disconnected" && signal) signal.restart();
        }, 8000);
      }
    });
  }

  async function startPublish() {
    if (!rtcConfig || pub) return;
    const gen = generation;
    const pc = new RTCPeerConnection(rtcConfig);
    const audio = pc.addTransceiver(media.mic || "audio", { direction: "sendonly" });
    const camera = pc.addTransceiver((!media.cameraOff && media.cam) || "video", { direction: "sendonly" });
    const screen = pc.addTransceiver(media.screen || "video", { direction: "sendonly" });
    pub = { pc, audio: audio.sender, camera: camera.sender, screen: screen.sender };
    watchConnection(pc);
    await pc.setLocalDescription(await pc.createOffer());
    await iceGatheringDone(pc);
    if (gen !== generation || !pub || pub.pc !== pc) return;
    signal.send({
      type: "offer",
      pc: "publish",
      sdp: pc.localDescription.sdp,
      tracks: [
        { mid: audio.mid, source: "microphone" },
        { mid: camera.mid, source: "camera" },
        { mid: screen.mid, source: "screen" },
      ],
    });
    syncSenders(); // in case a device changed while gathering
    sendMediaState(true);
  }

  async function onPublishAnswer(sdp) {
    if (!pub || pub.pc.signalingState !== "have-local-offer") return;
    const current = pub;
    try {
      await current.pc.setRemoteDescription({ type: "answer", sdp });
    } catch {
      announce("The room could not accept your camera and microphone. Leave and join again.", "error");
      return;
    }
    capBitrate(current.camera, 900_000);
    capBitrate(current.screen, 1_500_000);
  }

  function queueSubscribe(msg) {
    const gen = generation;
    subChain = subChain
      .then(() => (gen === generation ? onSubscribeOffer(msg, gen) : undefined))
      .catch(() => {
        if (gen === generation) announce("The others’ video could not be set up. Leave and join again if it does not appear.", "error");
      });
  }

  async function onSubscribeOffer(msg, gen) {
    if (!rtcConfig) return;
    if (!sub) {
      sub = new RTCPeerConnection(rtcConfig);
      sub.addEventListener("track", () => reconcile());
      watchConnection(sub);
    }
    const pc = sub;
    subTracks = new Map(
      (Array.isArray(msg.tracks) ? msg.tracks : [])
        .filter((t) => t && t.mid != null)
        .map((t) => [String(t.mid), { participant: t.participant ? String(t.participant) : null, source: t.source }]),
    );
    await pc.setRemoteDescription({ type: "offer", sdp: msg.sdp });
    await pc.setLocalDescription(await pc.createAnswer());
    await iceGatheringDone(pc);
    if (gen !== generation || sub !== pc) return;
    signal.send({ type: "answer", pc: "subscribe", sdp: pc.localDescription.sdp });
    reconcile();
  }

  function onRemoteCandidate(msg) {
    if (!msg.candidate) return;
    const candidate = {
      candidate: msg.candidate,
      sdpMid: msg.sdp_mid ?? null,
      sdpMLineIndex: msg.sdp_mline_index ?? null,
    };
    if (msg.pc === "publish") {
      if (pub) pub.pc.addIceCandidate(candidate).catch(() => {});
    } else {
      const gen = generation;
      subChain = subChain.then(() => (gen === generation && sub ? sub.addIceCandidate(candidate) : undefined)).catch(() => {});
    }
  }

  // Which received track belongs to whom, from the latest offer's track list and the transceivers'
  // mids (a mid can be reused for someone else, or made inactive, by a later offer).
  function reconcile() {
    const found = new Map();
    if (sub) {
      for (const transceiver of sub.getTransceivers()) {
        const info = transceiver.mid != null ? subTracks.get(transceiver.mid) : null;
        if (!info || !info.participant || info.participant === me.id) continue;
        const direction = transceiver.currentDirection;
        if (transceiver.stopped || direction === "inactive" || direction === "stopped" || direction === "sendonly") continue;
        const track = transceiver.receiver.track;
        if (!track || track.readyState === "ended") continue;
        if (!found.has(info.participant)) found.set(info.participant, {});
        found.get(info.participant)[info.source] = track;
      }
    }
    const ids = new Set([...found.keys(), ...attached.keys()]);
    const next = new Map();
    for (const id of ids) {
      const tracks = tiles.has(id) ? found.get(id) || {} : {};
      // The screen m-section exists before anyone shares: show it only while the roster says so.
      const listed = roster.participants.find((p) => p.participant === id);
      const sharing = Boolean(listed && listed.screen);
      tiles.setVideo(id, tracks.camera || null);
      tiles.setAudio(id, tracks.microphone || null);
      tiles.setScreen(id, (sharing && tracks.screen) || null, `${nameOf(id)}’s screen`);
      levels.watch(id, tracks.microphone || null);
      if (tracks.camera || tracks.microphone || tracks.screen) next.set(id, tracks);
    }
    attached = next;
  }

  // ---- roster, tiles and the lobby ---------------------------------------------------------------

  const nameOf = (id) => {
    const person = roster.participants.find((p) => p.participant === id) || roster.lobby.find((p) => p.participant === id);
    return (person && person.name) || "Someone";
  };

  const normalise = (list) =>
    (Array.isArray(list) ? list : [])
      .filter((p) => p && p.participant)
      .map((p) => ({ ...p, participant: String(p.participant), name: p.name || "Someone", role: p.role || "", host: p.host === true }));

  function onRoster(msg) {
    const participants = normalise(msg.participants);
    const lobby = normalise(msg.lobby);
    const news = [];
    if (state === "in-room") {
      if (rosterSeen) {
        const before = new Set(roster.participants.map((p) => p.participant));
        const after = new Set(participants.map((p) => p.participant));
        for (const p of participants) if (!before.has(p.participant) && p.participant !== me.id) news.push(`${p.name} joined.`);
        for (const p of roster.participants) if (!after.has(p.participant) && p.participant !== me.id) news.push(`${p.name} left.`);
      }
      rosterSeen = true;
      if (me.host) {
        for (const p of lobby) if (!lobbySeen.has(p.participant)) news.push(`${p.name} is waiting to join.`);
      }
      lobbySeen = new Set(lobby.map((p) => p.participant));
    }
    roster = { participants, lobby };
    renderRoster();
    if (news.length) announce(news.join(" "));
  }

  const selfView = () => {
    const listed = roster.participants.find((p) => p.participant === me.id);
    return {
      participant: me.id,
      name: me.name,
      role: (listed && listed.role) || me.role,
      host: listed ? Boolean(listed.host) : me.host,
      ...media.state,
    };
  };

  function syncSelfTile() {
    if (state !== "in-room" || !me.id) return;
    tiles.upsert(selfView(), { self: true });
    tiles.setVideo(me.id, media.cameraOff ? null : media.cam);
  }

  function renderRoster() {
    if (state !== "in-room" || !me.id) return;
    syncSelfTile();
    const keep = new Set([me.id]);
    for (const p of roster.participants) {
      if (p.participant === me.id) continue;
      // Hosts act on the others who are not hosts themselves: clinicians are peers.
      tiles.upsert(p, { hostControls: me.host && !p.host });
      keep.add(p.participant);
    }
    for (const id of tiles.ids()) if (!keep.has(id)) tiles.remove(id);
    reconcile();
    renderLobby();
  }

  function renderLobby() {
    const visible = me.host && state === "in-room";
    ui.lobbyPanel.hidden = !visible;
    if (!visible) return;
    const waiting = roster.lobby;
    ui.lobbyCount.textContent = String(waiting.length);
    ui.lobbyEmpty.hidden = waiting.length > 0;
    ui.lobbyList.hidden = waiting.length === 0;
    ui.lobbyPanel.classList.toggle("has-waiting", waiting.length > 0);
    const existing = new Map([...ui.lobbyList.children].map((li) => [li.dataset.participant, li]));
    const focusedItem = [...existing.values()].find((li) => li.contains(document.activeElement));
    for (const p of waiting) {
      let li = existing.get(p.participant);
      existing.delete(p.participant);
      if (!li) li = lobbyItem(p.participant);
      li.querySelector(".person-name").textContent = p.name;
      li.querySelector(".person-role").textContent = p.role;
      const admit = li.querySelector('[data-action="admit"]');
      const decline = li.querySelector('[data-action="decline"]');
      nameFor(admit, p.name);
      nameFor(decline, p.name);
      admit.disabled = false;
      decline.disabled = false;
      ui.lobbyList.append(li);
    }
    for (const li of existing.values()) li.remove();
    if (focusedItem && !focusedItem.isConnected) {
      const next = ui.lobbyList.querySelector('[data-action="admit"]');
      (next || ui.lobbyHeading).focus();
    }
  }

  function lobbyItem(id) {
    const li = document.createElement("li");
    li.dataset.participant = id;
    const who = document.createElement("span");
    who.className = "lobby-who";
    const name = document.createElement("span");
    name.className = "person-name";
    const comma = document.createElement("span");
    comma.className = "visually-hidden";
    comma.textContent = ", ";
    const role = document.createElement("span");
    role.className = "person-role";
    who.append(name, comma, role);
    const actions = document.createElement("span");
    actions.className = "row-actions";
    const admit = document.createElement("button");
    admit.type = "button";
    admit.className = "button small";
    admit.dataset.action = "admit";
    admit.textContent = "Admit";
    const decline = document.createElement("button");
    decline.type = "button";
    decline.className = "button secondary small";
    decline.dataset.action = "decline";
    decline.textContent = "Decline";
    actions.append(admit, decline);
    li.append(who, actions);
    return li;
  }

  function onMuteRequested(msg) {
    const kind = msg.kind === "video" ? "video" : "audio";
    if (!media.state[kind]) return; // already done
    const by = msg.by || "A host";
    const text = kind === "audio" ? `${by} asks you to mute your microphone.` : `${by} asks you to turn off your camera.`;
    ui.muteRequestText.textContent = text;
    ui.muteRequestAccept.textContent = kind === "audio" ? "Mute my microphone" : "Turn off my camera";
    ui.muteRequestAccept.dataset.kind = kind;
    ui.muteRequest.hidden = false;
    announce(text);
  }

  // ---- statistics: test hooks and quality hints ------------------------------------------------

  function startStats() {
    if (!statsTimer) statsTimer = setInterval(sampleStats, 1000);
  }

  function stopStats() {
    clearInterval(statsTimer);
    statsTimer = null;
  }

  async function sampleStats() {
    if (statsBusy) return;
    statsBusy = true;
    statsTick += 1;
    const gen = generation;
    try {
      tiles.sampleFrames();
      const quality = statsTick % 2 === 0;
      if (sub && sub.connectionState !== "closed") {
        const inbound = await inboundByMid(sub);
        if (gen === generation) {
          const streams = new Map();
          const nextPrev = new Map();
          for (const [mid, info] of subTracks) {
            if (!info.participant) continue;
            const cur = inbound.get(mid);
            if (info.source === "microphone" && cur) tiles.setAudioStats(info.participant, cur.totalSamplesReceived, cur.packetsReceived);
            if (!quality || info.source === "screen") continue;
            const key = `${mid}:${info.participant}`;
            if (!streams.has(info.participant)) streams.set(info.participant, []);
            streams.get(info.participant).push({ prev: prevInbound.get(key), cur, source: info.source });
            if (cur) nextPrev.set(key, cur);
          }
          if (quality) {
            prevInbound = nextPrev;
            for (const p of roster.participants) {
              if (p.participant === me.id) continue;
              tiles.setQuality(p.participant, remoteQuality(streams.get(p.participant) || [], p));
            }
          }
        }
      }
      if (quality && pub && me.id) {
        const own = await publishQuality(pub.pc);
        if (gen === generation) tiles.setQuality(me.id, own);
      }
    } catch {
      // A connection closed under us: the next tick will see the new ones.
    } finally {
      statsBusy = false;
    }
  }

  // ---- buttons ---------------------------------------------------------------------------------

  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || !root.contains(button) || button.disabled) return;
    resumeAudio();
    const holder = button.closest(".tile[data-participant], li[data-participant]");
    const participant = holder ? holder.dataset.participant : null;
    switch (button.dataset.action) {
      case "toggle-mic":
        attempt(() => media.setMuted(media.state.audio));
        break;
      case "toggle-camera":
        attempt(() => media.setCameraOff(media.state.video));
        break;
      case "toggle-screen":
        toggleScreen();
        break;
      case "leave":
        leave();
        break;
      case "retry-media":
        startMedia();
        break;
      case "accept-mute": {
        const kind = button.dataset.kind === "video" ? "video" : "audio";
        ui.muteRequest.hidden = true;
        attempt(() => (kind === "audio" ? media.setMuted(true) : media.setCameraOff(true)));
        (kind === "audio" ? ui.micButton : ui.cameraButton).focus();
        break;
      }
      case "dismiss-mute":
        ui.muteRequest.hidden = true;
        ui.micButton.focus();
        break;
      case "play-audio":
        tiles.playAll();
        ui.audioBlocked.hidden = true;
        break;
      case "admit":
      case "decline":
        if (participant && signal) {
          signal.send({ type: button.dataset.action, participant });
          for (const b of holder.querySelectorAll("button")) b.disabled = true;
          announce(button.dataset.action === "admit" ? `Letting ${nameOf(participant)} in.` : `${nameOf(participant)} was not let in.`);
        }
        break;
      case "send-to-lobby":
        if (participant && signal) {
          signal.send({ type: "send_to_lobby", participant });
          announce(`${nameOf(participant)} was sent to the waiting room.`);
        }
        break;
      case "ask-to-mute":
        if (participant && signal) {
          signal.send({ type: "ask_to_mute", participant, kind: button.dataset.kind === "video" ? "video" : "audio" });
          announce(`Asked ${nameOf(participant)} to mute.`);
        }
        break;
      case "rejoin":
        location.reload();
        break;
      default:
        break;
    }
  });

  async function toggleScreen() {
    if (media.screen) {
      media.stopScreen();
      announce("You stopped sharing your screen.");
      return;
    }
    try {
      await media.startScreen();
      announce("You are sharing your screen.");
    } catch (error) {
      // Choosing "Cancel" in the browser's picker is not an error worth mentioning.
      if (error && error.name !== "NotAllowedError" && error.name !== "AbortError") {
        announce("Your screen could not be shared.", "error");
      }
    }
  }

  ui.joinButton.addEventListener("click", join);
  ui.screenButton.hidden = true;
  syncMedia();
  startMedia();
}
