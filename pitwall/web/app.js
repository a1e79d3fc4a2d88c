// Pitwall web app: a hash router over five pages (Live, Sessions, Session, Explore, Spectator).
// Plain ES module, no build step. Every number shown comes from the API (units in the key names).
import { live } from "/app/live.js";
import { sessions, session } from "/app/sessions.js";
import { explore } from "/app/explore.js";

const TOKEN = new URLSearchParams(location.search).get("token");

/** `path` with the spectator token appended (when the page was opened with one). */
export function withToken(path) {
  if (!TOKEN) return path;
  return path + (path.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(TOKEN);
}

export const isSpectator = () => TOKEN !== null;

/** GET/POST/DELETE JSON; throws an Error carrying the API's `{error, detail}` message on a non-2xx answer. */
export async function api(path, options = {}) {
  const response = await fetch(withToken(path), options);
  const text = await response.text();
  let body = null;
  try { body = text ? JSON.parse(text) : null; } catch { body = text; }
  if (!response.ok) {
    const detail = body && body.detail !== undefined ? ` — ${typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)}` : "";
    const error = new Error(`${response.status} ${(body && body.error) || response.statusText}${detail}`);
    error.status = response.status;
    throw error;
  }
  return body;
}

/** A DOM element: `el("td", {class: "best"}, "1:54.960")`. */
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) node.append(child instanceof Node ? child : String(child ?? ""));
  return node;
}

/** Seconds as m:ss.mmm ("—" for null: not logged / not timed). */
export function lapTime(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  const minutes = Math.floor(seconds / 60);
  return `${minutes}:${(seconds - minutes * 60).toFixed(3).padStart(6, "0")}`;
}

/** Render the Vega-Lite spec served at `path` into `target` with vega-embed. */
export async function embedChart(target, path) {
  const spec = await api(path);
  await window.vegaEmbed(target, spec, { actions: false, renderer: "svg" });
}

const PAGES = { live, sessions, session, explore, spectator: live };
let leave = null;

async function route() {
  const [, name = isSpectator() ? "spectator" : "live", arg = ""] = location.hash.split("/");
  const page = PAGES[name] || PAGES.live;
  document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.page === name));
  if (leave) { leave(); leave = null; }
  const main = document.getElementById("main");
  main.replaceChildren();
  main.dataset.page = name;
  try {
    leave = (await page(main, decodeURIComponent(arg))) || null;
  } catch (error) {
    main.append(el("p", { class: "error", id: "page-error" }, String(error.message || error)));
  }
}

function showNetwork() {
  const net = document.getElementById("net");
  net.textContent = navigator.onLine ? "online" : "offline";
  net.className = "pill " + (navigator.onLine ? "ok" : "warn");
}

if (isSpectator()) document.querySelectorAll("#nav a").forEach((a) => { if (a.dataset.page !== "live") a.remove(); else a.href = "#/spectator"; });
window.addEventListener("hashchange", route);
window.addEventListener("online", showNetwork);
window.addEventListener("offline", showNetwork);
showNetwork();
route();
if ("serviceWorker" in navigator) navigator.serviceWorker.register("/sw.js", { scope: "/" });
