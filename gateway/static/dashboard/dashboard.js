/* Qamqor ops dashboard (docs/dashboard.md). The session lives in an HttpOnly cookie that this
   script never sees: it only calls same-origin endpoints under /dashboard. */
"use strict";

(function () {
  const I18N = window.QAMQOR_I18N;
  const BANKS = window.QAMQOR_BANKS || {};
  const LANG_KEY = "qamqor.dashboard.lang";
  const LANGS = ["ru", "kk", "en"];
  const NUMBER = new Intl.NumberFormat("ru-KZ", { maximumFractionDigits: 0 });
  const PERCENT = new Intl.NumberFormat("ru-KZ", { style: "percent", maximumFractionDigits: 1 });
  const BUCKETS = ["0-2", "3-5", "6-10", "over-10"];
  const BUCKET_COLOURS = ["#52be80", "#f4d03f", "#eb984e", "#c0392b"];
  const STATUSES = ["children", "employed", "carers", "students", "unemployed", "other"];
  const MONEY = new Set(["amount_assigned", "amount_paid"]);
  const PLOT_CONFIG = { displayModeBar: false, responsive: true };

  const $ = (id) => document.getElementById(id);
  const state = {
    lang: LANGS.includes(localStorage.getItem(LANG_KEY)) ? localStorage.getItem(LANG_KEY) : "ru",
    session: null,
    data: null,
    regionNames: {},  // region_kato → {en, ru, kk}
    timer: null,
    loading: false,
    pending: false,
    refreshedAt: null,
  };

  // ---- formatting (Kazakhstan: space as the thousands separator, ₸) ------------------------

  const fmt = (n) => NUMBER.format(Number(n) || 0);
  const money = (n) => fmt(n) + "\u00a0₸";
  const t = (key) => (I18N[state.lang] && I18N[state.lang][key]) || I18N.en[key] || key;
  const regionName = (kato) => {
    const names = state.regionNames[kato];
    return names ? (names[state.lang] || names.en || kato) : kato;
  };
  const bankName = (code) => BANKS[code] || code;
  // "2027-Q1" → "1 кв. 2027", "2027 ж. 1-тоқсан", "Q1 2027".
  const quarterLabel = (q) => {
    const [year, n] = q.split("-Q");
    if (!n) return q;
    return state.lang === "ru" ? n + " кв. " + year : state.lang === "kk" ? year + " ж. " + n + "-тоқсан"
      : "Q" + n + " " + year;
  };
  const bucketLabel = (b) => (b === "over-10" ? t("bucket_over") : b.replace("-", "–"));

  const stageName = (stage) => {
    const label = t("stage_" + stage);
    return label === "stage_" + stage ? stage : label;
  };

  // Times as Almaty sees them.
  function dateTime(text, dateOnly) {
    if (!text) return "—";
    const when = new Date(text);
    if (Number.isNaN(when.getTime())) return text;
    const style = dateOnly ? { dateStyle: "short" } : { dateStyle: "short", timeStyle: "medium" };
    return when.toLocaleString(state.lang === "en" ? "en-GB" : "ru-KZ", { timeZone: "Asia/Almaty", ...style });
  }

  // ---- language --------------------------------------------------------------------------

  function applyLanguage() {
    document.documentElement.lang = state.lang;
    document.title = "Qamqor — " + t("title");
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    $("lang").value = state.lang;
    fillRegionOptions();
    if (state.session) {
      $("who").textContent = t("signed_in_as") + " " + state.session.caller_id;
      fillQuarterOptions(state.session.quarters || []);
    }
    if (state.data) render(state.data);
  }

  // ---- sign-in and sign-out --------------------------------------------------------------

  function showSignIn() {
    stopRefresh();
    state.session = null;
    state.data = null;
    clearBoard();
    $("board").hidden = true;
    $("filters").hidden = true;
    $("sign-out").hidden = true;
    $("who").textContent = "";
    $("sign-in").hidden = false;
    $("client-id").focus();
  }

  function showBoard(session) {
    state.session = session;
    $("sign-in").hidden = true;
    $("sign-in-error").hidden = true;
    $("board").hidden = false;
    $("filters").hidden = false;
    $("sign-out").hidden = false;
    $("who").textContent = t("signed_in_as") + " " + session.caller_id;
    fillQuarterOptions(session.quarters || []);
    refresh();
    startRefresh();
  }

  async function signIn(event) {
    event.preventDefault();
    const button = $("sign-in-button");
    const error = $("sign-in-error");
    error.hidden = true;
    button.disabled = true;
    try {
      const response = await fetch("/dashboard/sign-in", {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ client_id: $("client-id").value.trim(), client_secret: $("client-secret").value }),
      });
      $("client-secret").value = "";
      if (response.ok) {
        showBoard(await response.json());
        return;
      }
      const key = response.status === 401 ? "error_credentials" : response.status === 403 ? "error_forbidden"
        : response.status === 429 ? "error_rate" : "error_generic";
      error.textContent = t(key);
      error.dataset.status = String(response.status);
      error.hidden = false;
    } catch (e) {
      error.textContent = t("error_generic");
      error.hidden = false;
    } finally {
      button.disabled = false;
    }
  }

  async function signOut() {
    try {
      await fetch("/dashboard/sign-out", { method: "POST", credentials: "same-origin" });
    } finally {
      showSignIn();
    }
  }

  // ---- filters ---------------------------------------------------------------------------

  function fillQuarterOptions(quarters) {
    const select = $("quarter");
    const chosen = select.value;
    while (select.options.length > 1) select.remove(1);
    quarters.forEach((q) => select.add(new Option(quarterLabel(q), q)));
    select.value = quarters.includes(chosen) ? chosen : "";
  }

  function fillRegionOptions() {
    const select = $("region");
    const chosen = select.value;
    while (select.options.length > 1) select.remove(1);
    Object.keys(state.regionNames)
      .sort((a, b) => regionName(a).localeCompare(regionName(b), state.lang))
      .forEach((kato) => select.add(new Option(regionName(kato), kato)));
    select.value = chosen && state.regionNames[chosen] ? chosen : "";
  }

  function query() {
    const params = new URLSearchParams();
    if ($("quarter").value) params.set("quarter", $("quarter").value);
    if ($("region").value) params.set("region_kato", $("region").value);
    const text = params.toString();
    return text ? "?" + text : "";
  }

  // ---- data ------------------------------------------------------------------------------

  function startRefresh() {
    stopRefresh();
    const seconds = (state.session && state.session.refresh_seconds) || 30;
    state.timer = setInterval(() => { if (!document.hidden) refresh(); }, seconds * 1000);
  }

  function stopRefresh() {
    if (state.timer) clearInterval(state.timer);
    state.timer = null;
  }

  async function refresh() {
    if (state.loading) { state.pending = true; return; }  // one request at a time; the latest filters win
    state.loading = true;
    try {
      const response = await fetch("/dashboard/data" + query(), { credentials: "same-origin",
        headers: { Accept: "application/json" } });
      if (response.status === 401 || response.status === 403) { showSignIn(); return; }
      if (!response.ok) throw new Error("HTTP " + response.status);
      const data = await response.json();
      (data.regions || []).forEach((r) => { if (r.name) state.regionNames[r.region_kato] = r.name; });
      if ($("region").options.length <= 1) fillRegionOptions();
      state.data = data;
      $("load-error").hidden = true;
      state.refreshedAt = new Date().toISOString();
      render(data);
      document.body.dataset.loaded = String(Number(document.body.dataset.loaded || 0) + 1);
    } catch (e) {
      $("load-error").textContent = t("error_load");
      $("load-error").hidden = false;
    } finally {
      state.loading = false;
      if (state.pending) { state.pending = false; refresh(); }
    }
  }

  // ---- rendering -------------------------------------------------------------------------

  function clearBoard() {
    document.querySelectorAll("#headline .value").forEach((el) => { el.textContent = ""; el.dataset.value = ""; });
    $("as-of").textContent = "—";
    $("refreshed").textContent = "—";
    $("backlog-total").textContent = "";
    $("oldest").tBodies[0].replaceChildren();
    $("extensions-total").textContent = "";
    ["chart-regions", "chart-backlog", "chart-settlement", "chart-status", "chart-funnel", "chart-banks",
      "chart-extensions"]
      .forEach((id) => { if (window.Plotly) Plotly.purge($(id)); $(id).replaceChildren(); });
    delete document.body.dataset.loaded;
  }

  function render(data) {
    $("as-of").textContent = dateTime(data.as_of);
    $("as-of").dateTime = data.as_of || "";
    $("refreshed").textContent = dateTime(state.refreshedAt);
    const headline = data.headline || {};
    document.querySelectorAll("#headline .card").forEach((card) => {
      const key = card.dataset.key;
      const value = card.querySelector(".value");
      value.dataset.value = String(headline[key] ?? 0);
      value.textContent = MONEY.has(key) ? money(headline[key]) : fmt(headline[key]);
    });
    regionsChart(data.regions || []);
    backlog(data.backlog || {});
    settlementChart(data.settlement || []);
    statusChart(data.social_status || []);
    funnelChart((data.fdc_funnel || {}).totals || {});
    banksChart(((data.payments || {}).by_bank) || []);
    extensionsChart(data.extensions || {});
  }

  // A count axis: whole numbers only (no 0.5 ticks on small figures).
  function countAxis(values, extra) {
    const max = Math.max(0, ...values);
    return Object.assign({ tickformat: ",d", automargin: true, gridcolor: "#eef1f4", rangemode: "tozero" },
      max <= 8 ? { dtick: 1 } : {}, extra || {});
  }

  function layout(extra) {
    return Object.assign({
      margin: { l: 8, r: 12, t: 6, b: 24 }, separators: ", ", showlegend: false,
      font: { family: "Segoe UI, Noto Sans, DejaVu Sans, Arial, sans-serif", size: 11, color: "#1d2733" },
      paper_bgcolor: "rgba(0,0,0,0)", plot_bgcolor: "rgba(0,0,0,0)",
      hoverlabel: { font: { size: 12 } },
    }, extra);
  }

  function draw(id, traces, extra, isEmpty) {
    const el = $(id);
    if (isEmpty) {
      Plotly.purge(el);
      const note = document.createElement("p");
      note.className = "empty";
      note.textContent = t("no_data");
      el.replaceChildren(note);
      return;
    }
    if (el.querySelector(".empty")) el.replaceChildren();
    Plotly.react(el, traces, layout(extra), PLOT_CONFIG);
  }

  function regionsChart(regions) {
    const metric = $("region-metric").value;
    const rows = regions.slice().sort((a, b) => (b[metric] || 0) - (a[metric] || 0));
    const isMoney = metric === "amount_assigned";
    const values = rows.map((r) => r[metric] || 0);
    draw("chart-regions", [{
      type: "bar", orientation: "h",
      y: rows.map((r) => regionName(r.region_kato)), x: values,
      text: values.map((v) => (isMoney ? money(v) : fmt(v))), textposition: "auto", cliponaxis: false,
      marker: { color: "#0b6aa2" },
      customdata: rows.map((r) => [fmt(r.applications), fmt(r.approved), fmt(r.recipient_families),
        fmt(r.recipient_people), money(r.amount_assigned), fmt(r.backlog)]),
      hovertemplate: "<b>%{y}</b><br>" + t("applications") + ": %{customdata[0]}<br>" + t("approved") +
        ": %{customdata[1]}<br>" + t("recipient_families") + ": %{customdata[2]}<br>" + t("recipient_people") +
        ": %{customdata[3]}<br>" + t("amount_assigned") + ": %{customdata[4]}<br>" + t("undecided") +
        ": %{customdata[5]}<extra></extra>",
    }], {
      yaxis: { autorange: "reversed", automargin: true, ticksuffix: " " },
      // Amounts are written on the bars; millions on the axis would only crowd it.
      xaxis: isMoney ? { showticklabels: false, gridcolor: "#eef1f4", rangemode: "tozero" } : countAxis(values),
      bargap: 0.25,
    }, rows.length === 0);
  }

  function backlog(section) {
    const byRegion = (section.by_region || []).filter((r) => r.total > 0).sort((a, b) => b.total - a.total);
    $("backlog-total").textContent = t("total") + ": " + fmt(section.total || 0);
    $("backlog-total").dataset.value = String(section.total || 0);
    draw("chart-backlog", BUCKETS.map((bucket, i) => ({
      type: "bar", orientation: "h", name: bucketLabel(bucket),
      y: byRegion.map((r) => regionName(r.region_kato)), x: byRegion.map((r) => r[bucket] || 0),
      marker: { color: BUCKET_COLOURS[i] },
      hovertemplate: "<b>%{y}</b><br>" + bucketLabel(bucket) + ": %{x}<extra></extra>",
    })), {
      barmode: "stack", showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 10 }, traceorder: "normal" },
      margin: { l: 8, r: 12, t: 22, b: 20 },
      // Room for eight regions at least, so that one region's bar is not a wall.
      yaxis: { range: [Math.max(byRegion.length, 8) - 0.5, -0.5], automargin: true, ticksuffix: " " },
      xaxis: countAxis(byRegion.map((r) => r.total)),
    }, byRegion.length === 0);

    const body = $("oldest").tBodies[0];
    const rows = (section.oldest || []).map((item) => {
      const tr = document.createElement("tr");
      const cells = [
        [item.application_id.slice(0, 8) + "…", "id"], [regionName(item.region_kato)], [stageName(item.stage)],
        [dateTime(item.submitted_at, true)], [fmt(item.business_days), "num"],
      ];
      cells.forEach(([text, cls]) => {
        const td = document.createElement("td");
        td.textContent = text;
        if (cls) td.className = cls;
        tr.appendChild(td);
      });
      tr.title = item.application_id;
      tr.cells[1].title = regionName(item.region_kato);
      return tr;
    });
    if (rows.length === 0) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 5;
      td.className = "empty";
      td.textContent = t("no_data");
      tr.appendChild(td);
      rows.push(tr);
    }
    body.replaceChildren(...rows);
  }

  function settlementChart(rows) {
    const ordered = ["urban", "rural"].map((s) => rows.find((r) => r.settlement === s) || { settlement: s });
    const total = ordered.reduce((sum, r) => sum + (r.recipient_people || 0), 0);
    draw("chart-settlement", [{
      type: "pie", hole: 0.55, sort: false, direction: "clockwise",
      labels: ordered.map((r) => t(r.settlement)), values: ordered.map((r) => r.recipient_people || 0),
      marker: { colors: ["#0b6aa2", "#52be80"] },
      texttemplate: ordered.map((r) => (r.recipient_people ? "%{label}<br>%{percent}" : "")),
      customdata: ordered.map((r) => [fmt(r.applications), fmt(r.recipient_families), fmt(r.recipient_people),
        money(r.amount_assigned)]),
      hovertemplate: "<b>%{label}</b><br>" + t("applications") + ": %{customdata[0]}<br>" +
        t("recipient_families") + ": %{customdata[1]}<br>" + t("recipient_people") + ": %{customdata[2]}<br>" +
        t("amount_assigned") + ": %{customdata[3]}<extra></extra>",
    }], {
      margin: { l: 4, r: 4, t: 4, b: 4 },
      annotations: [{ text: fmt(total) + "<br>" + t("people"), showarrow: false, font: { size: 13 } }],
    }, total === 0);
  }

  function statusChart(rows) {
    const byStatus = Object.fromEntries(rows.map((r) => [r.status, r.people || 0]));
    const total = STATUSES.reduce((sum, s) => sum + (byStatus[s] || 0), 0);
    const values = STATUSES.map((s) => byStatus[s] || 0);
    draw("chart-status", [{
      type: "bar", orientation: "h", y: STATUSES.map(t), x: values,
      text: values.map((v) => fmt(v) + (total ? " (" + PERCENT.format(v / total) + ")" : "")),
      textposition: "auto", marker: { color: "#7d3c98" },
      hovertemplate: "<b>%{y}</b>: %{x:,d}<extra></extra>",
    }], {
      yaxis: { autorange: "reversed", automargin: true, ticksuffix: " " },
      xaxis: countAxis(values),
    }, total === 0);
  }

  function funnelChart(totals) {
    const stages = ["invited", "applied", "approved", "paid"];
    const values = stages.map((s) => totals[s] || 0);
    draw("chart-funnel", [{
      type: "funnel", y: stages.map(t), x: values, textinfo: "text",
      text: values.map((v, i) => (i === 0 || !values[0] ? fmt(v) : fmt(v) + " (" + PERCENT.format(v / values[0]) + ")")),
      marker: { color: ["#0b6aa2", "#2e86c1", "#1f8a4c", "#7d3c98"] },
      connector: { fillcolor: "#eef1f4", line: { color: "#dfe4ea" } },
      hovertemplate: "<b>%{y}</b>: %{x:,d}<extra></extra>",
    }], { yaxis: { automargin: true, ticksuffix: " " }, margin: { l: 8, r: 12, t: 6, b: 6 } }, values[0] === 0);
  }

  // Reassessment runs (issue 12): families extended and ended per region, the amount on the badge.
  function extensionsChart(section) {
    const badge = $("extensions-total");
    badge.textContent = t("extended") + ": " + fmt(section.extended || 0) + " · " + t("ended") + ": " +
      fmt(section.ended || 0) + " · " + money(section.amount_assigned || 0);
    badge.dataset.value = String(section.extended || 0);
    badge.dataset.ended = String(section.ended || 0);
    const rows = (section.by_region || []).slice().sort((a, b) => (b.extended + b.ended) - (a.extended + a.ended));
    const names = rows.map((r) => regionName(r.region_kato));
    const custom = rows.map((r) => [money(r.amount_assigned)]);
    draw("chart-extensions", [
      { type: "bar", name: t("extended"), x: names, y: rows.map((r) => r.extended || 0), marker: { color: "#1f8a4c" },
        customdata: custom,
        hovertemplate: "<b>%{x}</b><br>" + t("extended") + ": %{y:,d} (%{customdata[0]})<extra></extra>" },
      { type: "bar", name: t("ended"), x: names, y: rows.map((r) => r.ended || 0), marker: { color: "#c0392b" },
        hovertemplate: "<b>%{x}</b><br>" + t("ended") + ": %{y:,d}<extra></extra>" },
    ], { barmode: "stack", showlegend: true, legend: { orientation: "h", y: -0.25 },
      xaxis: { automargin: true }, yaxis: countAxis(rows.map((r) => (r.extended || 0) + (r.ended || 0))) },
    rows.length === 0);
  }

  function banksChart(rows) {
    const banks = rows.slice().sort((a, b) => (b.amount_settled || 0) - (a.amount_settled || 0));
    const names = banks.map((b) => bankName(b.bank_code));
    const pending = banks.map((b) => Math.max(0, (b.ordered || 0) - (b.settled || 0) - (b.failed || 0)));
    const custom = banks.map((b) => [fmt(b.ordered), money(b.amount_ordered), money(b.amount_settled)]);
    const hover = "<b>%{x}</b><br>" + t("ordered") + ": %{customdata[0]} (%{customdata[1]})<br>" +
      t("amount_settled") + ": %{customdata[2]}<br>";
    draw("chart-banks", [
      { type: "bar", name: t("settled"), x: names, y: banks.map((b) => b.settled || 0), marker: { color: "#1f8a4c" },
        text: banks.map((b) => money(b.amount_settled)), textposition: "inside", customdata: custom,
        hovertemplate: hover + t("settled") + ": %{y:,d}<extra></extra>" },
      { type: "bar", name: t("pending"), x: names, y: pending, marker: { color: "#aab7c4" }, customdata: custom,
        hovertemplate: hover + t("pending") + ": %{y:,d}<extra></extra>" },
      { type: "bar", name: t("failed"), x: names, y: banks.map((b) => b.failed || 0), marker: { color: "#c0392b" },
        customdata: custom, hovertemplate: hover + t("failed") + ": %{y:,d}<extra></extra>" },
    ], {
      barmode: "stack", showlegend: true,
      legend: { orientation: "h", x: 0, y: 1.02, yanchor: "bottom", font: { size: 10 }, traceorder: "normal" },
      margin: { l: 8, r: 8, t: 22, b: 24 },
      yaxis: countAxis(banks.map((b) => b.ordered || 0)), xaxis: { automargin: true },
    }, banks.length === 0);
  }

  // ---- start -----------------------------------------------------------------------------

  async function start() {
    $("lang").addEventListener("change", () => {
      state.lang = $("lang").value;
      localStorage.setItem(LANG_KEY, state.lang);
      applyLanguage();
    });
    $("sign-in-form").addEventListener("submit", signIn);
    $("sign-out").addEventListener("click", signOut);
    $("quarter").addEventListener("change", refresh);
    $("region").addEventListener("change", refresh);
    $("region-metric").addEventListener("change", () => { if (state.data) regionsChart(state.data.regions || []); });
    document.addEventListener("visibilitychange", () => { if (!document.hidden && state.session) refresh(); });
    applyLanguage();
    try {
      const response = await fetch("/dashboard/session", { credentials: "same-origin" });
      const session = response.ok ? await response.json() : null;
      if (session && session.signed_in) showBoard(session);
      else showSignIn();
    } catch (e) {
      showSignIn();
    }
  }

  start();
})();
