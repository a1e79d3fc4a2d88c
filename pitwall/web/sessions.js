// Sessions (list, upload with progress, delete) and Session (laps, sectors, map, two-lap traces, corners).
import { api, el, embedChart, isSpectator, lapTime, withToken } from "/app/app.js";

function upload(file, progress, out, reload) {
  const form = new FormData();
  form.append("file", file);
  const xhr = new XMLHttpRequest();
  xhr.open("POST", withToken("/session/upload"));
  xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) progress.value = e.loaded / e.total; });
  xhr.addEventListener("load", () => {
    let body = null;
    try { body = JSON.parse(xhr.responseText); } catch { body = null; }
    if (xhr.status === 200) {
      out.textContent = `imported ${body.session_id}: ${body.n_frames} frames`;
      reload();
    } else {
      out.textContent = `${xhr.status} ${(body && body.error) || xhr.statusText}: ${body && JSON.stringify(body.detail)}`;
      out.className = "error";
    }
  });
  xhr.addEventListener("error", () => { out.textContent = "upload failed: no connection"; out.className = "error"; });
  out.textContent = "uploading…";
  out.className = "muted";
  xhr.send(form);
}

/** The Sessions page. */
export async function sessions(main) {
  const list = el("div", { class: "scroll" });
  const out = el("span", { id: "upload-status", class: "muted" });
  const progress = el("progress", { id: "upload-progress", max: "1", value: "0" });
  const input = el("input", { type: "file", id: "upload-file", accept: ".vbo,.VBO,.csv,.CSV,.log,.LOG,.gpx,.GPX" });
  async function reload() {
    const body = await api("/sessions?limit=200");
    list.replaceChildren(el("table", { id: "sessions-table" },
      el("thead", {}, el("tr", {}, ["driver", "track", "date (UTC)", "laps", "best", ""].map((h) => el("th", {}, h)))),
      el("tbody", {}, body.sessions.map((s) => el("tr", { "data-session": s.session_id },
        el("td", {}, s.driver || "—"),
        el("td", {}, s.track || "—"),
        el("td", {}, (s.started_at || "").replace("T", " ").slice(0, 16)),
        el("td", { class: "laps" }, s.lap_count ?? "—"),
        el("td", { class: "best" }, lapTime(s.best_lap_s)),
        el("td", {},
          el("a", { href: `#/session/${encodeURIComponent(s.session_id)}` }, "open"), " ",
          el("a", { href: `#/explore/${encodeURIComponent(s.session_id)}` }, "SQL"), " ",
          isSpectator() ? "" : el("button", { class: "delete", onclick: () => remove(s.session_id) }, "delete")))))));
  }
  async function remove(sid) {
    if (!confirm(`Delete session ${sid}?`)) return;
    try {
      await api(`/session/${encodeURIComponent(sid)}`, { method: "DELETE" });
      out.textContent = `deleted ${sid}`;
      await reload();
    } catch (error) {
      out.textContent = `delete ${sid}: ${error.message}`;
      out.className = "error";
    }
  }
  main.append(
    el("h2", {}, "Sessions"),
    isSpectator() ? "" : el("div", { class: "row" }, input,
      el("button", { id: "upload", onclick: () => input.files[0] && upload(input.files[0], progress, out, reload) }, "Import"),
      progress, out),
    list,
  );
  await reload();
}

function lapTable(table) {
  const cell = (lap, key, best) => el("td", { class: lap[best] ? "best" : null }, lapTime(lap[key]));
  return el("table", { id: "lap-table" },
    el("thead", {}, el("tr", {}, ["lap", "kind", "time", "S1", "S2", "S3", "Δ best (s)"].map((h) => el("th", {}, h)))),
    el("tbody", {}, table.laps.map((lap) => el("tr", { class: lap.is_best_lap ? "best" : null, "data-lap": lap.lap },
      el("td", {}, lap.lap), el("td", {}, lap.valid ? lap.kind : `${lap.kind} (${lap.reason || "invalid"})`),
      cell(lap, "duration_s", "is_best_lap"), cell(lap, "s1_s", "is_best_s1"), cell(lap, "s2_s", "is_best_s2"),
      cell(lap, "s3_s", "is_best_s3"),
      el("td", {}, lap.delta_to_best_s === null ? "—" : lap.delta_to_best_s.toFixed(3))))));
}

function cornerTable(body) {
  return el("table", { id: "corner-table" },
    el("thead", {}, el("tr", {}, ["corner", "grade", "best (s)", "mean (s)", "brake point (m)"].map((h) => el("th", {}, h)))),
    el("tbody", {}, body.corners.map((c) => el("tr", {},
      el("td", {}, c.corner_name || c.corner), el("td", {}, c.grade ?? "—"),
      el("td", {}, c.best_time_s === null || c.best_time_s === undefined ? "—" : c.best_time_s.toFixed(3)),
      el("td", {}, c.mean_time_s === null || c.mean_time_s === undefined ? "—" : c.mean_time_s.toFixed(3)),
      el("td", {}, c.mean_brake_point_s_m === null || c.mean_brake_point_s_m === undefined ? "—" : c.mean_brake_point_s_m.toFixed(0))))));
}

/** The Session page of `sid`. */
export async function session(main, sid) {
  const base = `/session/${encodeURIComponent(sid)}`;
  const table = await api(`${base}/lap_time_table`);
  const flying = table.laps.filter((l) => l.kind === "flying").map((l) => l.lap);
  const pick = (id, chosen) => el("select", { id }, flying.map((n) => el("option", { value: n, selected: n === chosen }, `lap ${n}`)));
  const lapA = pick("lap-a", table.best_lap);
  const lapB = pick("lap-b", flying.find((n) => n !== table.best_lap) ?? table.best_lap);
  const map = el("div", { class: "chart", id: "chart-map" });
  const traces = el("div", { class: "chart", id: "chart-traces" });
  const corners = el("div", { class: "scroll", id: "corners" }, el("span", { class: "muted" }, "loading corner grades…"));
  main.append(
    el("h2", {}, sid),
    el("p", { id: "best-lap" }, `best lap ${table.best_lap ?? "—"}: `, el("strong", { id: "best-lap-time" }, lapTime(table.best_lap_s)),
      ` · ${table.laps.length} laps · `, el("a", { href: `#/explore/${encodeURIComponent(sid)}` }, "SQL on this session")),
    el("div", { class: "scroll" }, lapTable(table)),
    el("h3", {}, "Track map (speed, km/h)"), map,
    el("h3", {}, "Two laps along the lap distance (dashed: braking points)"),
    el("div", { class: "row" }, "A", lapA, "B", lapB, el("button", { id: "compare", onclick: drawTraces }, "Compare")),
    traces,
    el("h3", {}, "Corner grades"), corners,
  );
  async function drawTraces() {
    traces.dataset.ready = "";
    await embedChart(traces, `${base}/charts/traces?lap_a=${lapA.value}&lap_b=${lapB.value}`);
    traces.dataset.ready = "1";
  }
  const jobs = [
    embedChart(map, `${base}/charts/track_map`).then(() => { map.dataset.ready = "1"; }),
    flying.length ? drawTraces() : Promise.resolve((traces.textContent = "no complete lap to draw")),
    api(`${base}/corners`).then((body) => corners.replaceChildren(cornerTable(body)))
      .catch((error) => corners.replaceChildren(el("span", { class: "error" }, error.message))),
  ];
  await Promise.all(jobs);
  main.dataset.ready = "1";
}
