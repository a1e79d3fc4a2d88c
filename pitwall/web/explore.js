// Explore: the session's export.parquet (telemetry) and its lap table in DuckDB-wasm, in the browser.
// DuckDB-wasm 1.29 reads parquet through an extension it would fetch from extensions.duckdb.org, which the
// paddock cannot reach: the vendored parquet-wasm decodes the export into Arrow instead, and DuckDB-wasm takes
// Arrow natively. The lap table goes in as plain SQL values (no JSON extension either).
import { api, el, withToken } from "/app/app.js";

const PARQUET = `${location.origin}/app/vendor/parquet`;

const VENDOR = `${location.origin}/app/vendor/duckdb`;
const BUNDLES = {
  mvp: { mainModule: `${VENDOR}/duckdb-mvp.wasm`, mainWorker: `${VENDOR}/duckdb-browser-mvp.worker.js` },
  eh: { mainModule: `${VENDOR}/duckdb-eh.wasm`, mainWorker: `${VENDOR}/duckdb-browser-eh.worker.js` },
};

/** Ready queries over `telemetry` (the export) and `laps` (the API's lap table). */
export const READY_QUERIES = {
  "row count": "SELECT count(*) AS n_rows FROM telemetry",
  "best lap": "SELECT lap, duration_s FROM laps WHERE valid AND kind = 'flying' ORDER BY duration_s, lap LIMIT 1",
  "speed histogram": "SELECT floor(speed_kph / 20) * 20 AS speed_from_kph, count(*) AS n_frames FROM telemetry WHERE speed_kph IS NOT NULL GROUP BY 1 ORDER BY 1",
  "sector table": "SELECT lap, kind, s1_s, s2_s, s3_s, duration_s FROM laps ORDER BY lap",
  "frames per lap": "SELECT l.lap, count(t.t_s) AS n_frames, max(t.speed_kph) AS max_speed_kph FROM laps l LEFT JOIN telemetry t ON t.t_s >= l.t_start_s AND t.t_s < l.t_end_s GROUP BY l.lap ORDER BY l.lap",
};

let dbPromise = null;

async function database() {
  if (!dbPromise) {
    dbPromise = (async () => {
      const duckdb = await import("/app/vendor/duckdb/duckdb-browser.bundle.mjs");
      const bundle = await duckdb.selectBundle(BUNDLES);
      const worker = new Worker(bundle.mainWorker);
      const db = new duckdb.AsyncDuckDB(new duckdb.VoidLogger(), worker);
      await db.instantiate(bundle.mainModule);
      return { duckdb, db };
    })();
  }
  return dbPromise;
}

/** `CREATE TABLE laps AS VALUES …` from the lap-time table's rows (scalar fields only). */
function lapsTable(rows) {
  const columns = Object.keys(rows[0] || { lap: null }).filter((k) => rows.every((r) => r[k] === null || typeof r[k] !== "object"));
  const literal = (v) => (v === null || v === undefined ? "NULL" : typeof v === "number" ? (Number.isInteger(v) ? String(v) : `${v}::DOUBLE`) : typeof v === "boolean" ? String(v).toUpperCase() : `'${String(v).replaceAll("'", "''")}'`);
  const values = rows.length ? rows.map((r) => `(${columns.map((c) => literal(r[c])).join(", ")})`).join(", ") : `(${columns.map(() => "NULL").join(", ")})`;
  const names = columns.map((c) => `"${c}"`).join(", ");
  return `CREATE TABLE laps AS SELECT * FROM (VALUES ${values}) AS t(${names})${rows.length ? "" : " WHERE false"}`;
}

function resultTable(result) {
  const columns = result.schema.fields.map((f) => f.name);
  const rows = result.toArray().map((row) => row.toJSON());
  const show = (v) => (typeof v === "bigint" ? v.toString() : typeof v === "number" && !Number.isInteger(v) ? v.toFixed(3) : String(v ?? "null"));
  return el("table", { id: "sql-result", "data-rows": rows.length },
    el("thead", {}, el("tr", {}, columns.map((c) => el("th", {}, c)))),
    el("tbody", {}, rows.map((row) => el("tr", {}, columns.map((c) => el("td", { "data-col": c }, show(row[c])))))));
}

/** The Explore page of `sid`. */
export async function explore(main, sid) {
  const base = `/session/${encodeURIComponent(sid)}`;
  const status = el("p", { id: "explore-status", class: "muted" }, "loading DuckDB-wasm and the session's parquet…");
  const sql = el("textarea", { id: "sql" }, READY_QUERIES["best lap"]);
  const out = el("div", { class: "scroll", id: "sql-out" });
  main.append(el("h2", {}, `SQL on ${sid}`), status,
    el("div", { class: "row" }, Object.keys(READY_QUERIES).map((name) =>
      el("button", { "data-query": name, onclick: () => { sql.value = READY_QUERIES[name]; run(); } }, name))),
    sql, el("div", { class: "row" }, el("button", { id: "run", onclick: () => run() }, "Run")), out);

  const { db } = await database();
  const [parquet, laps] = await Promise.all([
    fetch(withToken(`${base}/export.parquet?table=telemetry`)).then((r) => {
      if (!r.ok) throw new Error(`export.parquet: ${r.status}`);
      return r.arrayBuffer();
    }),
    api(`${base}/lap_time_table`),
  ]);
  const conn = await db.connect();
  const parquetWasm = await import(`${PARQUET}/parquet_wasm.js`);
  await parquetWasm.default(`${PARQUET}/parquet_wasm_bg.wasm`);
  const arrow = parquetWasm.readParquet(new Uint8Array(parquet)).intoIPCStream();
  await conn.query("DROP TABLE IF EXISTS telemetry");
  await conn.insertArrowFromIPCStream(arrow, { name: "telemetry", create: true });
  await conn.query("DROP TABLE IF EXISTS laps");
  await conn.query(lapsTable(laps.laps));
  status.textContent = `tables: telemetry (export.parquet, ${(parquet.byteLength / 1024).toFixed(0)} KiB), laps (lap_time_table)`;
  main.dataset.ready = "1";

  async function run() {
    out.dataset.state = "running";
    try {
      out.replaceChildren(resultTable(await conn.query(sql.value)));
      out.dataset.state = "done";
    } catch (error) {
      out.replaceChildren(el("p", { class: "error" }, String(error.message || error)));
      out.dataset.state = "error";
    }
  }
  await run();
  return () => conn.close();
}
