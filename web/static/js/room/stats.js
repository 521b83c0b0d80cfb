// Connection statistics: inbound RTP per mid on the subscribe connection (audio samples for the
// test hook, and a quality hint per remote participant), and the publish connection's round trip
// and loss (the quality hint on one's own tile).

/** inbound-rtp stats keyed by mid: {kind, packetsReceived, packetsLost, jitter, framesPerSecond, totalSamplesReceived}. */
export async function inboundByMid(pc) {
  const byTrack = new Map();
  for (const transceiver of pc.getTransceivers()) {
    if (transceiver.mid && transceiver.receiver && transceiver.receiver.track) {
      byTrack.set(transceiver.receiver.track.id, transceiver.mid);
    }
  }
  const result = new Map();
  const report = await pc.getStats();
  report.forEach((stat) => {
    if (stat.type !== "inbound-rtp") return;
    const mid = stat.mid ?? byTrack.get(stat.trackIdentifier);
    if (mid == null) return;
    result.set(String(mid), {
      kind: stat.kind || stat.mediaType,
      packetsReceived: stat.packetsReceived || 0,
      packetsLost: Math.max(0, stat.packetsLost || 0),
      jitter: stat.jitter || 0,
      framesPerSecond: stat.framesPerSecond,
      totalSamplesReceived: stat.totalSamplesReceived || 0,
    });
  });
  return result;
}

const worse = (a, b) => (a === "poor" || b === "poor" ? "poor" : a === "fair" || b === "fair" ? "fair" : "good");

const byLoss = (ratio) => (ratio < 0.02 ? "good" : ratio < 0.08 ? "fair" : "poor");

/**
 * Quality of what arrives from one participant between two samples ~2 s apart.
 * @param {{prev?: object, cur: object, source: string}[]} streams their audio and camera streams
 * @param {{audio: boolean, video: boolean}} expected what the roster says they send
 * @returns {"good"|"fair"|"poor"|null}
 */
export function remoteQuality(streams, expected) {
  let received = 0;
  let lost = 0;
  let jitter = 0;
  let fps = null;
  let measured = false;
  for (const { prev, cur, source } of streams) {
    if (!prev || !cur) continue;
    measured = true;
    received += Math.max(0, cur.packetsReceived - prev.packetsReceived);
    lost += Math.max(0, cur.packetsLost - prev.packetsLost);
    jitter = Math.max(jitter, cur.jitter || 0);
    if (source === "camera" && expected.video && typeof cur.framesPerSecond === "number") fps = cur.framesPerSecond;
  }
  if (!measured) return null;
  if (received + lost === 0) return expected.audio ? "poor" : null;
  let quality = byLoss(lost / (received + lost));
  quality = worse(quality, jitter < 0.03 ? "good" : jitter < 0.1 ? "fair" : "poor");
  if (fps !== null) quality = worse(quality, fps >= 12 ? "good" : fps >= 5 ? "fair" : "poor");
  return quality;
}

/** Quality of this person's own upstream: selected candidate pair RTT and remote-reported loss. */
export async function publishQuality(pc) {
  const report = await pc.getStats();
  let pairId = null;
  const pairs = new Map();
  let rtt = null;
  let fractionLost = null;
  report.forEach((stat) => {
    if (stat.type === "transport" && stat.selectedCandidatePairId) pairId = stat.selectedCandidatePairId;
    if (stat.type === "candidate-pair") pairs.set(stat.id, stat);
    if (stat.type === "remote-inbound-rtp" && typeof stat.fractionLost === "number") {
      fractionLost = Math.max(fractionLost ?? 0, stat.fractionLost);
    }
  });
  let pair = pairId ? pairs.get(pairId) : null;
  if (!pair) for (const candidate of pairs.values()) if (candidate.nominated && candidate.state === "succeeded") pair = candidate;
  if (pair && typeof pair.currentRoundTripTime === "number") rtt = pair.currentRoundTripTime;
  if (rtt === null && fractionLost === null) return null;
  let quality = "good";
  if (rtt !== null) quality = worse(quality, rtt < 0.15 ? "good" : rtt < 0.4 ? "fair" : "poor");
  if (fractionLost !== null) quality = worse(quality, byLoss(fractionLost));
  return quality;
}
