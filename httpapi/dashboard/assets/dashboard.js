// The dashboard: polls /graphql (cacheStats, accessChanges) with the token
// (kept in sessionStorage), turns counters into rates between polls, and
// draws them with uPlot (vendored: no CDN). window.dashboard exposes the
// state to tests.
(function () {
  'use strict';
  const POLL_MS = 1000;
  const KEEP = 300; // points per chart
  const state = (window.dashboard = { points: 0, lastHitRate: null, refused: null, data: null });
  const $ = (id) => document.getElementById(id);
  const series = { t: [], hit: {}, l1: [], fillP50: [], fillP99: [], reqP50: [], reqP99: [], inval: [], evict: [], mem: [], maxMem: [] };
  let prev = null;
  let charts = null;
  let timer = null;

  // chart draws labels' series; yRange fixes the y axis (a rate's is 0..1,
  // which uPlot would otherwise pad past 1).
  function chart(id, labels, yRange) {
    const opts = {
      width: Math.min(640, $(id).parentElement.clientWidth || 460), height: 200,
      series: [{}].concat(labels.map((label, i) => ({ label, stroke: ['#1565c0', '#2e7d32', '#c62828', '#6a1b9a', '#ef6c00', '#00838f', '#5d4037'][i % 7] }))),
      axes: [{}, {}],
    };
    if (yRange) opts.scales = { y: { range: yRange } };
    return new uPlot(opts, [[]].concat(labels.map(() => [])), $(id));
  }

  // STATS and CHANGES are everything the page shows, asked apart:
  // accessChanges needs AUDIT_READ, and its refusal would null the whole
  // answer (the field is non-null), so a viewer without it still gets the
  // figures, and an empty table.
  const STATS = `{
    cacheStats {
      readAt backend redisReachable storeTrusted invalidations
      kinds { kind hits misses stale }
      l1 { enabled leased hits misses entries bytes }
      fillSeconds { p50 p99 } requestSeconds { p50 p99 }
      redis { name value } counters { name value }
      activeUsers { id email }
    }
  }`;
  const CHANGES = `{ accessChanges(first: 10) { edges { node { id operation target createdAt deliveredAt actor { name email } } } } }`;

  // Targets are written with IDs ("user 12, role ADMIN", "scope assignment
  // 7: team 4, PROGRAM 3"): the table shows the names next to them, read in
  // one request for the IDs not seen before, as far as the viewer may read
  // them (an object the viewer cannot read, or one deleted since, keeps its
  // bare ID).
  const REFERENCE = /\b(user|program|project|team) (\d+)\b/gi;
  const names = new Map(); // "user:12" -> "Alice Smith"; "" when not readable
  async function nameTargets(token, changes) {
    const wanted = { user: new Set(), program: new Set(), project: new Set(), team: new Set() };
    changes.forEach((c) => {
      for (const [, kind, id] of c.target.matchAll(REFERENCE)) {
        const k = kind.toLowerCase();
        if (!names.has(k + ':' + id)) wanted[k].add(id);
      }
    });
    const kinds = Object.keys(wanted).filter((k) => wanted[k].size > 0);
    if (kinds.length > 0) {
      const query = '{ ' + kinds.map((k) =>
        `${k}s(first: 100, where: { idIn: [${[...wanted[k]].join(', ')}] }) { edges { node { id name } } }`).join(' ') + ' }';
      const data = (await ask(token, query)).body.data || {};
      kinds.forEach((k) => {
        wanted[k].forEach((id) => names.set(k + ':' + id, ''));
        ((data[k + 's'] || {}).edges || []).forEach((e) => names.set(k + ':' + e.node.id, e.node.name));
      });
    }
    changes.forEach((c) => {
      c.target = c.target.replace(REFERENCE, (ref, kind, id) => {
        const name = names.get(kind.toLowerCase() + ':' + id);
        return name ? `${name} (${ref})` : ref;
      });
    });
  }

  async function ask(token, query) {
    const res = await fetch('/graphql', {
      method: 'POST',
      headers: { Authorization: 'Bearer ' + token, 'Content-Type': 'application/json' },
      body: JSON.stringify({ query }),
    });
    return { status: res.status, body: await res.json() };
  }

  // fromGraphQL shapes the answers as the charts read them.
  function fromGraphQL(data, changes) {
    const s = data.cacheStats;
    const byName = (figures) => Object.fromEntries(figures.map((f) => [f.name, f.value]));
    const kinds = {};
    s.kinds.forEach((k) => (kinds[k.kind] = { Hits: k.hits, Misses: k.misses, Stale: k.stale }));
    const l1 = s.l1;
    return {
      time: Date.parse(s.readAt), backend: s.backend, kinds, invalidations: s.invalidations,
      l1: { Enabled: l1.enabled, Leased: l1.leased, Hits: l1.hits, Misses: l1.misses, Entries: l1.entries, Bytes: l1.bytes },
      fill: s.fillSeconds, request: s.requestSeconds, redis: byName(s.redis), extra: byName(s.counters),
      trust: { storeTrusted: s.storeTrusted, storeReachable: s.redisReachable, l1Leased: l1.leased },
      activeUsers: s.activeUsers,
      changes: changes ? changes.edges.map((e) => ({
        id: e.node.id, operation: e.node.operation, target: e.node.target, createdAt: e.node.createdAt, delivered: e.node.deliveredAt !== null,
        // Who, by name: null for the gateway itself (start-up, expiry) or
        // someone the viewer may not read.
        by: e.node.actor ? e.node.actor.name + ' <' + e.node.actor.email + '>' : 'the gateway',
      })) : [],
    };
  }

  function kindsOf(d) { return Object.keys(d.kinds).sort(); }

  // What applies to this gateway: the embedded default has no L1 and no
  // Redis, so their series, badges and chart are left out rather than shown
  // empty or alarming.
  let withL1 = false;
  let withRedis = false;

  function setup(d) {
    const kinds = kindsOf(d);
    kinds.forEach((k) => (series.hit[k] = []));
    withL1 = d.l1.Enabled;
    withRedis = d.backend === 'redis';
    $('chart-memory').parentElement.hidden = !withRedis;
    charts = state.charts = {
      hits: chart('chart-hits', withL1 ? kinds.concat(['L1']) : kinds, [0, 1]),
      latency: chart('chart-latency', ['fill p50', 'fill p99', 'request p50', 'request p99']),
      events: chart('chart-events', ['invalidations/s', 'evictions/s']),
      memory: chart('chart-memory', ['used', 'max']),
    };
  }

  // show draws data and, unless the pointer is over the chart, shows the
  // latest values in the legend (uPlot shows "--" until hovered).
  function show(c, data) {
    c.setData(data);
    const n = data[0].length;
    if (n > 0 && !(c.cursor.left >= 0)) c.setLegend({ idx: n - 1 });
  }

  function push(arr, v) { arr.push(v); if (arr.length > KEEP) arr.shift(); }

  function rate(hits, misses) { const all = hits + misses; return all > 0 ? hits / all : null; }

  function update(d) {
    if (!charts) setup(d);
    const t = d.time / 1000;
    const kinds = kindsOf(d);
    if (prev) {
      const dt = (d.time - prev.time) / 1000 || 1;
      push(series.t, t);
      // Overall: answered from a cache tier (L1 hits and store hits) over
      // all answers (an L1 miss is a store hit or miss).
      const l1Hits = d.l1.Hits - prev.l1.Hits;
      let hits = l1Hits, all = l1Hits;
      kinds.forEach((k) => {
        const h = d.kinds[k].Hits - (prev.kinds[k] ? prev.kinds[k].Hits : 0);
        const m = d.kinds[k].Misses - (prev.kinds[k] ? prev.kinds[k].Misses : 0);
        hits += h; all += h + m;
        push(series.hit[k], rate(h, m));
      });
      push(series.l1, rate(l1Hits, d.l1.Misses - prev.l1.Misses));
      push(series.fillP50, d.fill.p50 * 1000); push(series.fillP99, d.fill.p99 * 1000);
      push(series.reqP50, d.request.p50 * 1000); push(series.reqP99, d.request.p99 * 1000);
      push(series.inval, (d.invalidations - prev.invalidations) / dt);
      push(series.evict, ((d.redis.evicted_keys_total || 0) - (prev.redis.evicted_keys_total || 0)) / dt);
      push(series.mem, (d.redis.used_memory_bytes || 0) / 1e6); push(series.maxMem, (d.redis.max_memory_bytes || 0) / 1e6);
      if (all > 0) state.lastHitRate = hits / all;
      state.points++;
      show(charts.hits, [series.t].concat(kinds.map((k) => series.hit[k])).concat(withL1 ? [series.l1] : []));
      show(charts.latency, [series.t, series.fillP50, series.fillP99, series.reqP50, series.reqP99]);
      show(charts.events, [series.t, series.inval, series.evict]);
      if (withRedis) show(charts.memory, [series.t, series.mem, series.maxMem]);
    }
    prev = d;
    state.data = d;
    const badge = (name, ok) => `<span class="${ok ? 'ok' : 'bad'}">${name}: ${ok ? 'yes' : 'no'}</span>`;
    $('trust').innerHTML = (withRedis ? badge('store trusted', d.trust.storeTrusted) + badge('store reachable', d.trust.storeReachable) : '') +
      (withL1 ? badge('L1 leased', d.trust.l1Leased) : '') + `<span>backend: ${d.backend}</span>`;
    $('active').innerHTML = (d.activeUsers || []).map((u) => `<li>${escape(u.email)} (#${u.id})</li>`).join('');
    $('changes').querySelector('tbody').innerHTML = (d.changes || []).map((c) =>
      `<tr><td>${c.id}</td><td>${escape(c.operation)}</td><td>${escape(c.by)}</td><td>${escape(c.target)}</td><td>${new Date(c.createdAt).toLocaleTimeString()}</td><td>${c.delivered ? 'yes' : 'no'}</td></tr>`).join('');
  }

  function escape(s) { return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c])); }

  async function poll() {
    const token = sessionStorage.getItem('dashboardToken');
    if (!token) return;
    try {
      const [stats, log] = await Promise.all([ask(token, STATS), ask(token, CHANGES)]);
      const body = stats.body;
      const errors = body.errors || [];
      if (!body.data || !body.data.cacheStats) {
        // No figures at all: the token is refused, or lacks CACHE_MANAGE.
        state.refused = errors.length ? errors[0].message + ' (' + ((errors[0].extensions || {}).code || 'HTTP ' + stats.status) + ')' : 'HTTP ' + stats.status;
        $('status').textContent = 'Refused: ' + state.refused;
        $('status').className = 'refused';
        clearInterval(timer);
        return;
      }
      state.refused = null;
      $('status').textContent = 'Live, every ' + POLL_MS / 1000 + ' s.';
      $('status').className = '';
      const d = fromGraphQL(body.data, log.body.data && log.body.data.accessChanges);
      await nameTargets(token, d.changes);
      update(d);
    } catch (e) {
      $('status').textContent = 'Cannot reach the gateway: ' + e;
    }
  }

  function start() {
    clearInterval(timer);
    poll();
    timer = setInterval(poll, POLL_MS);
  }

  $('login').addEventListener('submit', (e) => {
    e.preventDefault();
    sessionStorage.setItem('dashboardToken', $('token').value.trim());
    $('token').value = '';
    start();
  });
  if (sessionStorage.getItem('dashboardToken')) start();
})();
