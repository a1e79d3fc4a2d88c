// Live (and the read-only Spectator view): /telemetry/stream and /cues/stream over EventSource.
// Handles both unnamed `message` events and named `telemetry` events; the browser reconnects by itself
// (the server sends `retry: 2000`), and a closed stream is reopened here.
import { api, el, isSpectator, lapTime, withToken } from "/app/app.js";

const NO_SOURCE_AFTER_MS = 4000; // no frame within this long after connecting → "no live source"
const START_RADIUS_M = 30; // the car within this distance of the start/finish point starts a lap
const MIN_LAP_S = 20; // two line crossings closer than this are one crossing
const G_RANGE = 2.0; // the g-g plot spans ±G_RANGE g

const EARTH_M_PER_DEG = 111_320;

function metresBetween(a, b) {
  const dx = (a.lon_deg - b.lon_deg) * EARTH_M_PER_DEG * Math.cos((a.lat_deg * Math.PI) / 180);
  const dy = (a.lat_deg - b.lat_deg) * EARTH_M_PER_DEG;
  return Math.hypot(dx, dy);
}

function gauge(id, label, unit) {
  return el("div", { class: "card" }, el("div", { class: "label" }, `${label} (${unit})`), el("div", { class: "big", id }, "—"));
}

function trackMap(outline) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 300 300");
  svg.setAttribute("id", "live-map");
  svg.setAttribute("width", "100%");
  if (!outline || !outline.points.length) return { svg, place() {} };
  const lats = outline.points.map((p) => p.lat_deg);
  const lons = outline.points.map((p) => p.lon_deg);
  const [minLat, maxLat, minLon, maxLon] = [Math.min(...lats), Math.max(...lats), Math.min(...lons), Math.max(...lons)];
  const kx = Math.cos((((minLat + maxLat) / 2) * Math.PI) / 180);
  const span = Math.max((maxLon - minLon) * kx, maxLat - minLat) || 1;
  const xy = (p) => [10 + ((p.lon_deg - minLon) * kx * 280) / span, 290 - ((p.lat_deg - minLat) * 280) / span];
  const line = document.createElementNS(svg.namespaceURI, "polyline");
  line.setAttribute("points", outline.points.map((p) => xy(p).join(",")).join(" "));
  line.setAttribute("fill", "none");
  line.setAttribute("stroke", "#8c96a3");
  line.setAttribute("stroke-width", "4");
  const car = document.createElementNS(svg.namespaceURI, "circle");
  car.setAttribute("r", "7");
  car.setAttribute("fill", "#e63946");
  car.setAttribute("id", "live-car");
  car.setAttribute("visibility", "hidden");
  svg.append(line, car);
  return {
    svg,
    place(frame) {
      if (frame.lat_deg === null || frame.lon_deg === null) return;
      const [x, y] = xy(frame);
      car.setAttribute("cx", x.toFixed(1));
      car.setAttribute("cy", y.toFixed(1));
      car.setAttribute("visibility", "visible");
    },
  };
}

function ggPlot() {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  svg.setAttribute("viewBox", "-1 -1 2 2");
  svg.setAttribute("class", "gg");
  svg.setAttribute("width", "140");
  for (const r of [0.5, 1]) {
    const ring = document.createElementNS(ns, "circle");
    ring.setAttribute("r", String(r));
    ring.setAttribute("class", "ring");
    ring.setAttribute("stroke-width", "0.02");
    svg.append(ring);
  }
  const dot = document.createElementNS(ns, "circle");
  dot.setAttribute("r", "0.07");
  dot.setAttribute("fill", "#e63946");
  dot.setAttribute("id", "gg-dot");
  svg.append(dot);
  return {
    svg,
    place(frame) {
      if (frame.g_lat === null || frame.g_long === null) return;
      const clamp = (v) => Math.max(-1, Math.min(1, v / G_RANGE));
      dot.setAttribute("cx", clamp(-frame.g_lat).toFixed(3)); // + left is drawn to the left
      dot.setAttribute("cy", clamp(-frame.g_long).toFixed(3)); // + forward (acceleration) is up
    },
  };
}

/** The Live page; returns the function that closes its streams. */
/** Time (s) at distance ``d`` (m) along a [[distance, time], …] trace, linearly interpolated; null past its end. */
function timeAtDistance(trace, d) {
  if (!trace.length || d > trace[trace.length - 1][0]) return null;
  let lo = 0;
  let hi = trace.length - 1;
  while (hi - lo > 1) {
    const mid = (lo + hi) >> 1;
    if (trace[mid][0] <= d) lo = mid;
    else hi = mid;
  }
  const [d0, t0] = trace[lo];
  const [d1, t1] = trace[hi];
  return d1 > d0 ? t0 + ((d - d0) / (d1 - d0)) * (t1 - t0) : t0;
}

export async function live(main) {
  const spectator = isSpectator();
  const status = el("span", { id: "live-status", class: "pill warn" }, "connecting…");
  const cue = el("p", { id: "live-cue", class: "muted" }, "no cues yet");
  const share = spectator
    ? el("span", { class: "muted" }, "spectator view (read-only)")
    : el("button", { id: "share", onclick: shareLink }, "Share spectator link");
  const shareOut = el("span", { id: "share-link", class: "muted" });
  const outline = await api("/track/outline").catch(() => null);
  const map = trackMap(outline);
  const gg = ggPlot();
  main.append(
    el("div", { class: "row" }, el("h2", {}, spectator ? "Spectator" : "Live"), status, share, shareOut),
    el("div", { class: "grid" },
      gauge("live-speed", "speed", "km/h"), gauge("live-rpm", "rpm", "1/min"), gauge("live-gear", "gear", "#"),
      el("div", { class: "card" }, el("div", { class: "label" }, "lap (m:s)"), el("div", { class: "big", id: "lap-timer" }, "—"),
        el("div", { class: "label" }, "Δ best lap (s, at the same distance)"), el("div", { id: "lap-delta" }, "—"),
        el("div", { class: "label" }, "last lap"), el("div", { id: "lap-last" }, "—"))),
    el("div", { class: "grid" },
      el("div", { class: "card" },
        el("div", { class: "label" }, "throttle (%)"), el("div", { class: "bar", id: "live-throttle" }, el("div")),
        el("div", { class: "label" }, "brake (% or bar)"), el("div", { class: "bar", id: "live-brake" }, el("div")),
        el("div", { class: "label" }, "g-g (±2 g)"), gg.svg),
      el("div", { class: "card" }, el("div", { class: "label" }, `track: ${outline ? outline.track : "no active track"}`), map.svg)),
    el("div", { class: "card" }, el("div", { class: "label" }, "coach"), cue),
  );

  async function shareLink() {
    try {
      const issued = await api("/spectator/token", { method: "POST", headers: { "content-type": "application/json" }, body: "{}" });
      const url = `${location.origin}/?token=${encodeURIComponent(issued.token)}#/spectator`;
      shareOut.replaceChildren(el("a", { href: url }, url), ` (until ${issued.expires_at})`);
    } catch (error) {
      shareOut.textContent = error.message;
    }
  }

  // The running delta of a lap timer: this lap's time at the distance covered so far minus the best lap's time
  // at the same distance (interpolated along the best lap's distance→time trace; negative = ahead).
  const lapState = { start: null, startT: null, lastCross: null, best: null, last: null, prev: null, dist: 0, trace: [], bestTrace: null };
  if (outline && outline.points.length) lapState.start = outline.points[0];
  let lastFrameAt = 0;
  let frames = 0;

  function setStatus(text, kind) {
    status.textContent = text;
    status.className = `pill ${kind}`;
  }

  function onFrame(frame) {
    followCues(frame.session_id);
    frames += 1;
    lastFrameAt = performance.now();
    setStatus("live", "ok");
    main.dataset.frames = String(frames);
    const fmt = (v, digits = 0) => (v === null || v === undefined ? "—" : Number(v).toFixed(digits));
    document.getElementById("live-speed").textContent = fmt(frame.speed_kph);
    document.getElementById("live-rpm").textContent = fmt(frame.rpm);
    document.getElementById("live-gear").textContent = frame.gear === null || frame.gear === undefined ? "—" : frame.gear === 0 ? "N" : String(frame.gear);
    document.querySelector("#live-throttle > div").style.width = `${Math.max(0, Math.min(100, frame.throttle_pct ?? 0))}%`;
    const brake = frame.brake_pct ?? (frame.brake_bar === null || frame.brake_bar === undefined ? 0 : Math.min(100, frame.brake_bar));
    document.querySelector("#live-brake > div").style.width = `${Math.max(0, Math.min(100, brake))}%`;
    gg.place(frame);
    map.place(frame);
    if (lapState.start && frame.lat_deg !== null && frame.lon_deg !== null && metresBetween(frame, lapState.start) < START_RADIUS_M) {
      if (lapState.lastCross === null || frame.t_s - lapState.lastCross > MIN_LAP_S) {
        if (lapState.startT !== null) {
          lapState.last = frame.t_s - lapState.startT;
          if (lapState.best === null || lapState.last < lapState.best) {
            lapState.best = lapState.last;
            lapState.bestTrace = lapState.trace;
          }
          document.getElementById("lap-last").textContent =
            `${lapTime(lapState.last)} (best ${lapTime(lapState.best)})`;
        }
        lapState.startT = frame.t_s;
        lapState.dist = 0;
        lapState.trace = [];
      }
      lapState.lastCross = frame.t_s;
    }
    document.getElementById("lap-timer").textContent = lapState.startT === null ? "out lap" : lapTime(frame.t_s - lapState.startT);
    if (lapState.startT !== null && frame.lat_deg !== null && frame.lon_deg !== null) {
      if (lapState.prev) lapState.dist += metresBetween(frame, lapState.prev);
      lapState.trace.push([lapState.dist, frame.t_s - lapState.startT]);
      const ref = lapState.bestTrace && timeAtDistance(lapState.bestTrace, lapState.dist);
      const delta = document.getElementById("lap-delta");
      if (ref === null || ref === undefined) delta.textContent = "—";
      else {
        const d = frame.t_s - lapState.startT - ref;
        delta.textContent = `${d >= 0 ? "+" : ""}${d.toFixed(2)}`;
        delta.className = d > 0 ? "slower" : "faster";
      }
    }
    if (frame.lat_deg !== null && frame.lon_deg !== null) lapState.prev = { lat_deg: frame.lat_deg, lon_deg: frame.lon_deg };
  }

  const sources = [];
  function open(path, handlers) {
    const source = new EventSource(withToken(path));
    for (const [name, handler] of Object.entries(handlers)) source.addEventListener(name, (e) => handler(JSON.parse(e.data)));
    source.addEventListener("error", () => {
      setStatus("connection lost — reconnecting", "bad");
      if (source.readyState === EventSource.CLOSED) {
        const i = sources.indexOf(source);
        setTimeout(() => { if (sources[i] === source) sources[i] = open(path, handlers); }, 2000);
      }
    });
    source.addEventListener("open", () => {
      if (performance.now() - lastFrameAt > NO_SOURCE_AFTER_MS) setStatus("connected", "warn");
    });
    sources.push(source);
    return source;
  }
  open("/telemetry/stream", { message: onFrame, telemetry: onFrame });
  const showCue = (c) => { cue.className = ""; cue.textContent = c.text; };
  // Cues belong to one session: follow the live session the frames come from (and the next one).
  let cueSession = null;
  let cueSource = null;
  function followCues(sessionId) {
    if (!sessionId || sessionId === cueSession) return;
    cueSession = sessionId;
    if (cueSource) {
      cueSource.close();
      sources.splice(sources.indexOf(cueSource), 1);
    }
    cueSource = open(`/cues/stream?session_id=${encodeURIComponent(sessionId)}`, { message: showCue, cue: showCue });
  }
  const watchdog = setInterval(() => {
    if (performance.now() - lastFrameAt > NO_SOURCE_AFTER_MS && status.textContent !== "connection lost — reconnecting") {
      setStatus("no live source", "warn");
    }
  }, 1000);
  return () => {
    clearInterval(watchdog);
    sources.splice(0).forEach((s) => s.close());
  };
}
