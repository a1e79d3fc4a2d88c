// Pitwall service worker: the app shell is cached at install; every other GET the app makes (the sessions
// the user opened, their charts and parquet, the DuckDB-wasm files) is fetched network-first and kept, so a
// session opened once can be reviewed with no connection. Live streams are never cached.
const CACHE = "pitwall-v2";
const SHELL = [
  "/",
  "/manifest.webmanifest",
  "/app/app.js",
  "/app/live.js",
  "/app/sessions.js",
  "/app/explore.js",
  "/app/style.css",
  "/app/icon.svg",
  "/app/vendor/vega/vega.min.js",
  "/app/vendor/vega/vega-lite.min.js",
  "/app/vendor/vega/vega-embed.min.js",
];
const NEVER = ["/telemetry/stream", "/cues/stream", "/notifications", "/sw.js"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== location.origin || NEVER.includes(url.pathname)) return;
  event.respondWith(
    fetch(event.request)
      .then((response) => {
        if (response.ok) {
          const copy = response.clone();
          caches.open(CACHE).then((cache) => cache.put(event.request, copy));
        }
        return response;
      })
      .catch(() => caches.match(event.request, { ignoreVary: true }).then((hit) => hit || Response.error())),
  );
});
