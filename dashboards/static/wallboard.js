// kefu-floor wallboard: a read-only client of the live feed (README "Live feed", "Wallboard").
// Every figure is computed by the service (kefu_floor/views/floorview.py) and only laid out here:
// no formula is re-implemented. Every string from the feed goes in with textContent.
// URL: ?lang=zh|en  ?team=T  ?site=S  ?view=agents|supervisor  ?token=...
//      ?feed=HOST:PORT (repeatable): other engines' feeds, each site's headline in a strip
"use strict";
(function () {
  const qs = new URLSearchParams(location.search);
  const TEAM = qs.get("team");
  const VIEW = qs.get("view") || "board";
  const STALE_MS = 5000; // no message for this long: the figures are not live
  const STATES = ["ready", "ringing", "talking", "wrap", "busy", "out"];
  const L = {
    zh: {sl_today: "今日服务水平", sl_30: "30分钟服务水平", sl_15: "15分钟服务水平", sl_60: "60分钟服务水平",
      waiting: "排队等待", longest: "最长等待", offered: "今日来电", answered: "今日接通", abandoned: "今日放弃",
      asa: "平均应答", ready: "示闲", ringing: "振铃", talking: "通话", wrap: "话后", busy: "示忙",
      out: "签出", occupancy: "占用率", signed: "已签入/排班", over_budget: "示忙超限", missing: "未签入",
      busy_by_reason: "示忙原因", trend: "今日服务水平走势", leaderboard: "班组排行", team: "班组",
      team_score: "班组得分", stars: "星级", attention: "需关注", queues: "队列", queue: "队列",
      ticker: "扣分提醒", target: "目标", abandon_rate: "放弃率", as_of: "数据时间", ago: "秒前",
      live: "实时", stale: "数据未更新", lost: "连接中断", reconnect: "正在重连…", since: "自",
      connecting: "正在连接…", no_supervisor: "未开启主管视图", rate_sep: " ", none: "无",
      r_break: "休息", r_lunch: "午餐", r_meeting: "会议", r_training: "培训", r_system: "系统",
      r_toilet: "如厕", "r_-": "未注明", s: "秒", m: "分", q_waiting: "排队", q_longest: "最长",
      q_sl30: "30分", q_sl: "今日", q_offered: "来电", q_answered: "接通", q_abandoned: "放弃"},
    en: {sl_today: "Service level today", sl_30: "Service level 30 min", sl_15: "Service level 15 min",
      sl_60: "Service level 60 min", waiting: "Calls waiting", longest: "Longest wait",
      offered: "Offered today", answered: "Answered today", abandoned: "Abandoned today", asa: "ASA",
      ready: "Ready", ringing: "Ringing", talking: "Talking", wrap: "Wrap-up", busy: "Busy",
      out: "Signed out", occupancy: "Occupancy", signed: "Signed in / scheduled",
      over_budget: "Over busy budget", missing: "Missing at start", busy_by_reason: "Busy by reason",
      trend: "Service level today", leaderboard: "Teams", team: "Team", team_score: "Score",
      stars: "Stars", attention: "Attention", queues: "Queues", queue: "Queue", ticker: "Deductions",
      target: "target", abandon_rate: "abandon rate", as_of: "data as of", ago: "s ago", live: "live",
      stale: "DATA NOT UPDATING", lost: "FEED LOST", reconnect: "reconnecting…", since: "since",
      connecting: "connecting…", no_supervisor: "supervisor view is not enabled", rate_sep: " ",
      none: "none", r_break: "break", r_lunch: "lunch", r_meeting: "meeting", r_training: "training",
      r_system: "system", r_toilet: "toilet", "r_-": "no reason", s: "s", m: "min",
      q_waiting: "Waiting", q_longest: "Longest", q_sl30: "SL 30m", q_sl: "SL today",
      q_offered: "Offered", q_answered: "Answered", q_abandoned: "Abandoned"},
  };
  let lang = qs.get("lang");
  let T = L[lang] || L.zh;

  let snap = null;
  let lastMsg = 0; // wall clock of the last message
  let lostSince = null;
  let backoff = 1000;
  let ticker = [];
  let dirty = true;
  let framePending = false;
  // draw at the next frame, once, when something changed (no frame loop while idle)
  function schedule() {
    dirty = true;
    if (!framePending) { framePending = true; requestAnimationFrame(frame); }
  }
  const $ = (id) => document.getElementById(id);

  function setText(el, s) {
    if (el && el.textContent !== s) el.textContent = s;
  }
  function setClass(el, name, on) {
    if (el && el.classList.contains(name) !== on) el.classList.toggle(name, on);
  }
  function level(el, cls) {
    for (const c of ["ok", "amber", "red"]) setClass(el, c, c === cls);
  }
  const pct = (x) => (x == null ? "—" : (100 * x).toFixed(0) + "%");
  const secs = (x) => (x == null ? "—" : x < 600 ? Math.round(x) + T.s : Math.round(x / 60) + T.m);
  const num = (x) => (x == null ? "—" : String(x));
  const tz = () => ((snap && snap.policy) || {}).timezone || "Asia/Shanghai";
  function hms(ms) {
    if (ms == null) return "--:--:--";
    return new Date(ms).toLocaleTimeString(lang === "en" ? "en-GB" : "zh-CN",
      {timeZone: tz(), hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit"});
  }
  function hm(ms) {
    return new Date(ms).toLocaleTimeString("en-GB", {timeZone: tz(), hour12: false, hour: "2-digit", minute: "2-digit"});
  }
  function thresholdClass(v, th) {
    if (v == null || !th) return "ok";
    return v >= th[1] ? "red" : v >= th[0] ? "amber" : "ok";
  }
  function slClass(sl) {
    const target = (((snap || {}).policy || {}).service_level_target || 80) / 100;
    if (sl == null) return "";
    return sl >= target ? "ok" : sl >= target - 0.1 ? "amber" : "red";
  }

  // ------------------------------------------------------------------ feed merging
  // the compact stream (?compact=1): each agent's static fields (name, team, role,
  // probation) come once, as columns in `roster`, and a delta's agent and team entries
  // hold only the fields that changed; entries are put back together here
  let roster = {};
  function expand(msg) {
    const delta = msg.type === "delta";
    if (!delta) roster = {};
    const cols = msg.roster || {};
    const fields = Object.keys(cols).filter((f) => f !== "agent");
    (cols.agent || []).forEach((a, k) => {
      const r = {};
      for (const f of fields) r[f] = cols[f][k];
      roster[a] = r;
    });
    const kept = (delta && snap) || {};
    if (msg.agents) {
      const was = kept.agents || {};
      for (const k of Object.keys(msg.agents)) {
        msg.agents[k] = Object.assign({}, was[k], roster[k], msg.agents[k]);
      }
    }
    if (delta && msg.teams) {
      const was = kept.teams || {};
      for (const k of Object.keys(msg.teams)) msg.teams[k] = Object.assign({}, was[k], msg.teams[k]);
    }
  }
  function pushTicker(d) {
    ticker.unshift(d);
    ticker.length = Math.min(ticker.length, 30);
  }
  function merge(d) {
    for (const s of ["agents", "teams", "queues"]) {
      if (!d[s] && !(d.removed || {})[s]) continue;
      snap[s] = Object.assign({}, snap[s], d[s] || {});
      for (const k of (d.removed || {})[s] || []) delete snap[s][k];
      if (s === "agents") {
        for (const k of Object.keys(d.agents || {})) changedAgents.add(k);
        for (const k of (d.removed || {}).agents || []) changedAgents.add(k);
      }
    }
    if (d.trend) {
      const old = d.trend.reset ? {} : ((snap.trend || {}).buckets || {});
      snap.trend = {bucket_min: d.trend.bucket_min, day: d.trend.day,
        buckets: Object.assign({}, old, d.trend.buckets)};
    }
    for (const s of ["floor", "counters", "month", "now", "totals", "recent"]) if (s in d) snap[s] = d[s];
  }
  const changedAgents = new Set();

  function onMessage(m) {
    let msg;
    try { msg = JSON.parse(m.data); } catch (e) { return; }
    lastMsg = Date.now();
    if (msg.type === "snapshot" || msg.type === "delta") expand(msg);
    if (msg.type === "snapshot") {
      snap = msg;
      if (!lang) { lang = msg.lang === "en" ? "en" : "zh"; T = L[lang]; labels(); }
      ticker = (msg.recent || []).slice(0, 30);
      changedAgents.clear();
      agentsAll = true;
    } else if (msg.type === "delta" && snap) {
      merge(msg);
      for (const d of msg.alerts || []) pushTicker(d); // folded into the delta
    } else if (msg.type === "alert" && msg.deduction) {
      pushTicker(msg.deduction);
    }
    schedule();
  }

  function connect() {
    const q = new URLSearchParams({compact: "1"});
    for (const k of ["site", "team", "token"]) if (qs.get(k)) q.set(k, qs.get(k));
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    let ws;
    try { ws = new WebSocket(`${scheme}://${location.host}/?${q}`); } catch (e) { return retry(); }
    ws.onopen = () => { backoff = 1000; };
    ws.onmessage = (m) => { if (lostSince) { lostSince = null; } onMessage(m); };
    ws.onclose = () => {
      if (!lostSince) lostSince = Date.now();
      schedule();
      retry();
    };
  }
  function retry() {
    const wait = backoff * (0.8 + 0.4 * Math.random());
    backoff = Math.min(backoff * 2, 30000);
    setTimeout(connect, wait);
  }

  // ------------------------------------------------------------------ other sites
  // A centre split across several `serve` processes (README "Scale-out"): each ?feed= is
  // one more engine's feed; the strip shows every site's headline figures (this board's own
  // site first), the board below stays this feed's site. Only the headline sections are
  // kept of the other feeds (totals, floor), replaced whole as deltas bring them.
  const sites = qs.getAll("feed").map((f) => ({feed: f, snap: null, lost: null, backoff: 1000}));
  function siteUrl(f) {
    const q = new URLSearchParams();
    if (qs.get("token")) q.set("token", qs.get("token"));
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const base = /^wss?:\/\//.test(f) ? f.replace(/\/?$/, "/") : `${scheme}://${f}/`;
    return `${base}?${q}`;
  }
  function connectSite(s) {
    let ws;
    try { ws = new WebSocket(siteUrl(s.feed)); } catch (e) { return retrySite(s); }
    ws.onopen = () => { s.backoff = 1000; };
    ws.onmessage = (m) => {
      let msg;
      try { msg = JSON.parse(m.data); } catch (e) { return; }
      s.lost = null;
      if (msg.type === "snapshot") {
        s.snap = {site: msg.site, totals: msg.totals || {}, floor: msg.floor || {}, now: msg.now};
      } else if (msg.type === "delta" && s.snap) {
        for (const k of ["totals", "floor", "now"]) if (k in msg) s.snap[k] = msg[k];
      } else return;
      renderSites();
    };
    ws.onclose = () => { if (!s.lost) s.lost = Date.now(); renderSites(); retrySite(s); };
  }
  function retrySite(s) {
    const wait = s.backoff * (0.8 + 0.4 * Math.random());
    s.backoff = Math.min(s.backoff * 2, 30000);
    setTimeout(() => connectSite(s), wait);
  }
  function renderSites() {
    const strip = $("sites");
    if (!strip || !sites.length) return;
    strip.hidden = false;
    const rows = [{feed: "", snap, lost: lostSince}, ...sites];
    while (strip.children.length < rows.length) {
      const d = document.createElement("div");
      d.className = "site";
      for (const c of ["name", "sl", "waiting", "longest", "signed"]) {
        const sp = document.createElement("span");
        sp.className = c;
        d.appendChild(sp);
      }
      strip.appendChild(d);
    }
    rows.forEach((r, i) => {
      const d = strip.children[i];
      const sn = r.snap || {};
      const tot = sn.totals || {};
      const f = sn.floor || {};
      d.dataset.site = sn.site || "";
      setClass(d, "lost", !!r.lost || !r.snap);
      setText(d.querySelector(".name"), sn.site || r.feed || "—");
      const sl = (tot.today || {}).service_level;
      const slEl = d.querySelector(".sl");
      setText(slEl, `${T.sl_today} ${pct(sl)}`);
      level(slEl, slClass(sl));
      setText(d.querySelector(".waiting"), `${T.waiting} ${num(tot.waiting)}`);
      setText(d.querySelector(".longest"), `${T.longest} ${secs(tot.longest_wait_s)}`);
      setText(d.querySelector(".signed"),
        f.signed_in == null ? "" : `${T.signed} ${f.signed_in} / ${f.scheduled}`);
    });
  }

  // ------------------------------------------------------------------ rendering
  function labels() {
    document.documentElement.lang = lang === "en" ? "en" : "zh-CN";
    for (const el of document.querySelectorAll("[data-l]")) setText(el, T[el.dataset.l] || el.dataset.l);
  }

  function scope() {
    // the figures of the floor, or of the one team asked for (same fields, same server code)
    if (TEAM) return (snap.teams || {})[TEAM] || null;
    return snap.floor || null;
  }

  function renderKpis() {
    const tot = snap.totals || {};
    const today = tot.today || {};
    const w = tot.windows || {};
    const pol = snap.policy || {};
    const th = pol.thresholds || {};
    const target = pol.service_level_target || 80;
    for (const [id, win] of [["sl-today", today], ["sl-30", w["30"] || {}]]) {
      const sl = win.service_level;
      const v = $(id);
      setText(v, pct(sl));
      level(v, slClass(sl));
      const fill = $(id + "-fill");
      fill.style.width = sl == null ? "0" : Math.min(100, 100 * sl).toFixed(1) + "%";
      level(fill, slClass(sl));
      $(id + "-target").style.left = target + "%";
    }
    setText($("sl-15"), pct((w["15"] || {}).service_level));
    setText($("sl-60"), pct((w["60"] || {}).service_level));
    setText($("waiting"), num(tot.waiting));
    level($("waiting"), thresholdClass(tot.waiting, th.waiting));
    setText($("longest"), secs(tot.longest_wait_s));
    level($("longest"), thresholdClass(tot.longest_wait_s, th.longest_wait_s));
    setText($("offered"), num(today.offered));
    setText($("answered"), num(today.answered));
    setText($("abandoned"), num(today.abandoned));
    setText($("abandon-rate"), `${T.abandon_rate} ${pct(today.abandon_rate)}`);
    setText($("asa"), today.asa_s == null ? "—" : today.asa_s.toFixed(1) + T.s);
  }

  function renderStates() {
    const f = scope() || {};
    const by = f.by_state || {};
    for (const s of STATES) setText($("st-" + s), num(by[s]));
    setText($("occupancy"), pct(f.occupancy));
    setText($("signed"), f.signed_in == null ? "—" : `${f.signed_in} / ${f.scheduled}`);
    setText($("over-budget"), num(f.over_budget));
    level($("over-budget"), f.over_budget ? "amber" : "ok");
    setText($("missing"), num(f.missing));
    level($("missing"), f.missing ? "red" : "ok");
    const ul = $("reasons");
    const rows = Object.entries(f.busy_by_reason || {});
    syncList(ul, rows.length ? rows : [[null, null]], (li, [r, n]) => {
      if (li.childNodes.length !== 2) { li.replaceChildren(document.createElement("span"), document.createElement("b")); }
      setText(li.firstChild, r == null ? T.none : (T["r_" + r] || r));
      setText(li.lastChild, n == null ? "" : String(n));
    }, "li");
  }

  // keep `parent` holding one child per row, updated in place
  function syncList(parent, rows, fill, tag) {
    while (parent.children.length > rows.length) parent.lastChild.remove();
    while (parent.children.length < rows.length) parent.appendChild(document.createElement(tag));
    rows.forEach((r, i) => fill(parent.children[i], r));
  }
  function cells(tr, values, numeric) {
    while (tr.children.length > values.length) tr.lastChild.remove();
    while (tr.children.length < values.length) tr.appendChild(document.createElement("td"));
    values.forEach((v, i) => { setText(tr.children[i], v); setClass(tr.children[i], "n", !!(numeric && numeric[i])); });
  }

  function renderTeams() {
    const teams = Object.values(snap.teams || {}).filter((t) => !TEAM || t.team === TEAM);
    teams.sort((a, b) => (b.score ?? -1e9) - (a.score ?? -1e9) || a.team.localeCompare(b.team));
    syncList($("teams"), teams, (tr, t) => {
      const stars = Object.entries(t.stars || {}).map(([g, n]) => `${g}★×${n}`).join(" ");
      const by = t.by_state || {};
      cells(tr, [t.team, t.score == null ? "—" : t.score.toFixed(2), stars || "—",
        `${t.signed_in}/${t.scheduled}`, String(t.attention), String(by.ready), String(by.talking),
        String(by.busy), String(t.over_budget), String(t.missing), pct(t.occupancy),
        String(t.answered_today)], [false, true, false, true, true, true, true, true, true, true, true, true]);
      for (let i = 5; i < tr.children.length; i++) setClass(tr.children[i], "k4", true);
    }, "tr");
  }

  function renderQueues() {
    const qsorted = Object.values(snap.queues || {}).filter((q) => !q.queue.startsWith("_"));
    qsorted.sort((a, b) => a.queue.localeCompare(b.queue));
    syncList($("queues"), qsorted, (tr, q) => {
      cells(tr, [q.queue, String(q.waiting), secs(q.longest_wait_s),
        pct(((q.windows || {})["30"] || {}).service_level), pct(q.today.service_level),
        String(q.today.offered), String(q.today.answered), String(q.today.abandoned),
        q.today.asa_s == null ? "—" : q.today.asa_s.toFixed(1) + T.s],
      [false, true, true, true, true, true, true, true, true]);
    }, "tr");
  }

  const SVG = "http://www.w3.org/2000/svg";
  function renderTrend() {
    const svg = $("trend");
    const tr = snap.trend || {};
    const bucketMin = tr.bucket_min || 30;
    const per = (24 * 60) / bucketMin;
    const buckets = Object.values(tr.buckets || {}).sort((a, b) => a.start - b.start);
    const W = 960, H = 200, bw = W / per;
    const day0 = buckets.length ? dayStart(buckets[0].start) : 0;
    // bars: one rect per bucket with data, placed by its time of day
    const rects = buckets.filter((b) => b.service_level != null);
    let g = svg.querySelector("g.bars");
    if (!g) { g = document.createElementNS(SVG, "g"); g.setAttribute("class", "bars"); svg.appendChild(g); }
    while (g.children.length > rects.length) g.lastChild.remove();
    while (g.children.length < rects.length) g.appendChild(document.createElementNS(SVG, "rect"));
    rects.forEach((b, i) => {
      const r = g.children[i];
      const x = ((b.start - day0) / 60000 / bucketMin) * bw;
      const h = Math.max(2, b.service_level * H);
      r.setAttribute("x", x.toFixed(1)); r.setAttribute("width", Math.max(1, bw - 2).toFixed(1));
      r.setAttribute("y", (H - h).toFixed(1)); r.setAttribute("height", h.toFixed(1));
      r.setAttribute("class", "b " + slClass(b.service_level));
    });
    let line = svg.querySelector("line.tl");
    if (!line) { line = document.createElementNS(SVG, "line"); line.setAttribute("class", "tl"); svg.appendChild(line); }
    const target = ((snap.policy || {}).service_level_target || 80) / 100;
    const y = (H - target * H).toFixed(1);
    line.setAttribute("x1", "0"); line.setAttribute("x2", String(W)); line.setAttribute("y1", y); line.setAttribute("y2", y);
    const axis = $("trend-axis");
    if (!axis.children.length) for (let i = 0; i < 7; i++) axis.appendChild(document.createElement("span"));
    for (let i = 0; i < 7; i++) setText(axis.children[i], `${String(i * 4).padStart(2, "0")}:00`);
  }
  function dayStart(ms) {
    // local midnight of ms in the site's zone, from its local time of day
    const p = new Intl.DateTimeFormat("en-GB", {timeZone: tz(), hour12: false, hour: "2-digit", minute: "2-digit", second: "2-digit"})
      .formatToParts(new Date(ms));
    const get = (t) => Number((p.find((x) => x.type === t) || {}).value || 0);
    return ms - ((get("hour") % 24) * 3600 + get("minute") * 60 + get("second")) * 1000 - (ms % 1000);
  }

  function renderTicker() {
    const box = $("p-ticker");
    if (VIEW !== "supervisor") { box.hidden = true; return; }
    box.hidden = false;
    const enabled = ((snap.policy || {}).supervisor_view) !== false;
    const rows = enabled ? ticker.filter((d) => !TEAM || d.team === TEAM).slice(0, 14) : [{none: true}];
    syncList($("ticker"), rows, (li, d) => {
      if (d.none) { li.replaceChildren(); setText(li, T.no_supervisor); return; }
      if (li.childNodes.length !== 4) {
        li.replaceChildren(...["span", "b", "span", "span"].map((t) => document.createElement(t)));
        li.lastChild.className = "pts";
      }
      setText(li.childNodes[0], hm(d.ts) + " ");
      setText(li.childNodes[1], `${d.agent} ${d.name || ""} `);
      setText(li.childNodes[2], (lang === "en" ? d.rule_en : d.rule_zh) + " ");
      setText(li.childNodes[3], String(d.points));
    }, "li");
  }

  // ---- ?view=agents: one card per agent, only changed cards touched
  const cards = new Map();
  const byEl = new WeakMap();
  // time in state is recounted only for the cards on screen
  const seen = new IntersectionObserver((entries) => {
    for (const en of entries) {
      const c = byEl.get(en.target);
      if (c) { c.shown = en.isIntersecting; if (c.shown) stateText(c); }
    }
  });
  let agentsAll = true;
  function card(id) {
    let c = cards.get(id);
    if (!c) {
      const el = document.createElement("div");
      el.className = "ag";
      const idEl = document.createElement("span"); idEl.className = "id";
      const nm = document.createElement("span"); nm.className = "nm";
      const st = document.createElement("span"); st.className = "stt";
      el.append(idEl, nm, st);
      c = {el, idEl, nm, st, since: null, state: null, shown: false};
      cards.set(id, c);
      byEl.set(el, c);
      seen.observe(el);
      $("agents").appendChild(el);
    }
    return c;
  }
  function stateLabel(a) {
    let s = T[a.state] || a.state;
    if (a.state === "busy" && a.reason) s += " " + (T["r_" + a.reason] || a.reason);
    return s;
  }
  function renderAgents() {
    const agents = snap.agents || {};
    const ids = agentsAll ? Object.keys(agents).sort() : [...changedAgents];
    if (agentsAll) {
      for (const [id, c] of cards) if (!(id in agents)) { seen.unobserve(c.el); c.el.remove(); cards.delete(id); }
    }
    for (const id of ids) {
      const a = agents[id];
      if (!a) { const c = cards.get(id); if (c) { seen.unobserve(c.el); c.el.remove(); cards.delete(id); } continue; }
      if (TEAM && a.team !== TEAM) continue;
      const c = card(id);
      setText(c.idEl, a.agent);
      setText(c.nm, (a.name || "") + (a.role === "leader" ? " ◆" : ""));
      const cls = "ag " + a.state + ((a.attention || []).length ? " attn" : "");
      if (c.el.className !== cls) c.el.className = cls;
      c.since = a.since;
      c.state = stateLabel(a);
      if (c.shown) stateText(c);
    }
    agentsAll = false;
    changedAgents.clear();
  }
  function stateText(c) {
    const now = snap && snap.now;
    const dur = c.since == null || now == null ? "" : " " + secs(Math.max(0, (now - c.since) / 1000));
    setText(c.st, c.state + dur);
  }
  function tickAgents() {
    for (const c of cards.values()) if (c.shown) stateText(c);
  }

  function renderStatus() {
    const now = Date.now();
    const age = lastMsg ? Math.round((now - lastMsg) / 1000) : null;
    const stale = !lostSince && lastMsg && now - lastMsg > STALE_MS;
    const lost = !!lostSince;
    setClass(document.body, "lost", lost);
    setClass(document.body, "stale", !!stale);
    setClass(document.body, "connecting", !snap && !lost);
    setText($("clock"), hms(now));
    setText($("asof"), snap && snap.now != null ? `${T.as_of} ${hms(snap.now)} (${age} ${T.ago})` : "");
    setText($("status"), lost ? T.lost : stale ? T.stale : snap ? T.live : T.connecting);
    const banner = $("banner");
    banner.hidden = !(lost || stale);
    if (lost) {
      setText($("banner-text"), T.lost);
      setText($("banner-detail"), `${T.since} ${hms(lostSince)} · ${T.reconnect}`);
    } else if (stale) {
      setText($("banner-text"), T.stale);
      setText($("banner-detail"), `${T.as_of} ${hms(snap && snap.now)} (${age} ${T.ago})`);
    }
    const site = snap ? snap.site : "";
    setText($("title"), `kefu-floor · ${site}${TEAM ? " · " + TEAM : ""}`);
  }

  function frame() {
    framePending = false;
    if (dirty && snap) {
      dirty = false;
      if (VIEW === "agents") {
        renderAgents();
      } else {
        renderKpis(); renderStates(); renderTeams(); renderQueues(); renderTrend(); renderTicker();
      }
      renderSites();
    }
  }

  function start() {
    if (VIEW === "agents") {
      $("board").hidden = true;
      $("agents-view").hidden = false;
      document.body.classList.add("agents-view");
    }
    labels();
    connect();
    for (const s of sites) connectSite(s);
    setInterval(() => { renderStatus(); if (VIEW === "agents" && snap) tickAgents(); }, 500);
    renderStatus();
    schedule();
  }
  // test and benchmark hook: what the page has rendered from (read-only use)
  window.kefuBoard = {state: () => snap, sites: () => sites.map((s) => s.snap)};
  start();
})();
