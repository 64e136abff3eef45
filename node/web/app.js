// The page: loads the node's state, follows its events (server-sent
// events) and sends the user's changes. The token comes from the page's
// URL and goes only in the Authorization header (and the event stream's
// URL, which the browser cannot give a header); never in a cookie.
'use strict';

const token = new URLSearchParams(location.search).get('token') || '';
const $ = (id) => document.getElementById(id);
let state = null;
let group = null;
let quality = {};
let refreshTimer = null;
let ledgerLoaded = false;

async function api(path, body) {
  const opts = { headers: { Authorization: 'Bearer ' + token }, credentials: 'omit', cache: 'no-store' };
  if (body !== undefined) {
    opts.method = 'POST';
    opts.headers['Content-Type'] = 'application/json';
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(path, opts);
  const json = await res.json().catch(() => ({ error: res.statusText }));
  if (!res.ok) throw new Error(json.error || res.statusText);
  return json;
}

function say(text) { $('status').textContent = text || ''; }

async function run(what) {
  try { say(''); return await what(); } catch (e) { say(e.message); return null; }
}

async function refresh() {
  const next = await run(() => api('/api/state' + (group ? '?group=' + group : '')));
  if (!next) { if (group) { group = null; scheduleRefresh(); } return; }
  state = next;
  group = state.group ? state.group.id : null;
  quality = {};
  for (const s of state.group ? state.group.voice.streams : []) quality[s.member] = { ...s, talking: false };
  render();
  if (state.ledger && !ledgerLoaded) { ledgerLoaded = true; loadLedger(); }
}

function scheduleRefresh() {
  clearTimeout(refreshTimer);
  refreshTimer = setTimeout(refresh, 100);
}

function drawMap() {
  const g = state.group;
  AuraMap.draw($('map'), {
    members: g ? g.members : [], own: state.own, proximity_m: state.proximity_m, fences: g ? g.fences : [],
  });
}

const act = {
  remove: (m) => run(async () => { await api('/api/remove', { group, member: m }); scheduleRefresh(); }),
  role: (m, role) => run(async () => { await api('/api/role', { group, member: m, role }); scheduleRefresh(); }),
  volume: (m, volume) => run(async () => {
    await api('/api/voice', { group, member: m, volume });
    if (quality[m]) quality[m].volume = volume;
  }),
};

function render() {
  $('me').textContent = 'you: ' + state.me.slice(0, 12);
  const sel = $('group');
  sel.replaceChildren(...state.groups.map(x => Panels.h('option', { value: x.id, selected: x.id === group }, x.name)));
  const g = state.group;
  const admin = g && (g.my_role === 'admin' || g.my_role === 'owner');
  for (const e of document.querySelectorAll('.admin-only')) e.hidden = !admin;
  drawMap();
  if (!g) { $('members').replaceChildren(); $('chat').replaceChildren(); renderVoice(); return; }
  Panels.members($('members'), g, act);
  Panels.chat($('chat'), g.chat);
  renderVoice();
  $('gifts-panel').hidden = !state.ledger;
  if (state.ledger) {
    Panels.gifts($('gifts'), g.gifts);
    $('gift-to').replaceChildren(...g.members.filter(m => !m.me)
      .map(m => Panels.h('option', { value: m.id }, m.id.slice(0, 12))));
  }
}

function renderVoice() {
  const v = state.group ? state.group.voice : { joined: false, muted: false };
  $('voice-join').textContent = v.joined ? 'Leave voice' : 'Join voice';
  $('voice-mute').hidden = !v.joined;
  $('voice-mute').textContent = v.muted ? 'Unmute' : 'Mute';
  Panels.voice(document.querySelector('#voice tbody'), v, quality, act);
}

function onEvent(e) {
  if (e.group && e.group !== group && e.type !== 'joined') return;
  switch (e.type) {
    case 'location': {
      const m = state && state.group && state.group.members.find(x => x.id === e.member);
      if (!m) { scheduleRefresh(); return; }
      m.fix = e.fix;
      m.last_seen_ms = Math.max(m.last_seen_ms || 0, e.fix.at_ms);
      drawMap();
      return;
    }
    case 'chat':
      state.group.chat.push(e.msg);
      Panels.appendChat($('chat'), e.msg);
      return;
    case 'voice_quality': {
      const prev = quality[e.member];
      const talking = !!prev && e.received > prev.received;
      quality[e.member] = { ...(prev || { volume: 1 }), ...e, talking, at: Date.now() };
      renderVoice();
      return;
    }
    case 'proximity':
    case 'geofence':
      say(e.type === 'geofence'
        ? e.member.slice(0, 8) + (e.entered ? ' entered ' : ' left ') + e.fence
        : e.member.slice(0, 8) + (e.near ? ' is near you' : ' is no longer near'));
      scheduleRefresh();
      return;
    default:
      scheduleRefresh();
  }
}

function connect() {
  const es = new EventSource('/api/events?token=' + encodeURIComponent(token));
  es.onopen = () => { $('conn').textContent = 'live'; $('conn').classList.remove('off'); refresh(); };
  es.onerror = () => { $('conn').textContent = 'offline'; $('conn').classList.add('off'); };
  es.onmessage = (m) => { if (state) onEvent(JSON.parse(m.data)); };
}

function wire() {
  $('group').addEventListener('change', () => { group = $('group').value; refresh(); });
  $('group-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const name = $('group-name').value.trim(), code = $('group-code').value.trim();
    run(async () => {
      const r = await api('/api/group', code ? { code } : { name });
      group = r.group; $('group-name').value = ''; $('group-code').value = ''; refresh();
    });
  });
  $('chat-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const input = $('chat-input');
    const text = input.value;
    if (!text || !group) return;
    run(async () => {
      const r = await api('/api/chat', { group, text });
      input.value = '';
      state.group.chat.push(r.msg);
      Panels.appendChat($('chat'), r.msg);
    });
  });
  $('position-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    const lat = Number($('lat').value), lon = Number($('lon').value);
    run(async () => { await api('/api/position', { lat, lon }); scheduleRefresh(); });
  });
  const share = (on) => run(() => api('/api/share', { group, on, precision: $('precision').value }));
  $('share-on').addEventListener('click', () => share(true));
  $('share-off').addEventListener('click', () => share(false));
  $('fence-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    if (!state.own) { say('set your position first'); return; }
    run(async () => {
      await api('/api/fence', {
        group, name: $('fence-name').value, lat: state.own.lat, lon: state.own.lon,
        radius_m: Number($('fence-radius').value),
      });
      scheduleRefresh();
    });
  });
  $('invite').addEventListener('click', () => run(async () => {
    const r = await api('/api/invite', { group, uses: 1, hours: 24 });
    $('qr').src = 'data:image/svg+xml,' + encodeURIComponent(r.qr_svg);
    $('invite-code').value = r.code;
    $('invite-box').hidden = false;
  }));
  $('voice-join').addEventListener('click', () => run(async () => {
    await api('/api/voice', { group, action: state.group.voice.joined ? 'leave' : 'join' });
    scheduleRefresh();
  }));
  $('voice-mute').addEventListener('click', () => run(async () => {
    await api('/api/voice', { group, action: state.group.voice.muted ? 'unmute' : 'mute' });
    scheduleRefresh();
  }));
  $('gift-form').addEventListener('submit', (ev) => {
    ev.preventDefault();
    run(async () => {
      await api('/api/gift', { group, to: $('gift-to').value, gift: $('gift-item').value });
      loadLedger(); scheduleRefresh();
    });
  });
  // "Last seen" and talking dots age without events.
  setInterval(() => {
    if (!state || !state.group) return;
    const now = Date.now();
    for (const q of Object.values(quality)) if (q.talking && now - (q.at || 0) > 2500) q.talking = false;
    Panels.ageSeen($('members'));
    renderVoice();
  }, 5000);
}

async function loadLedger() {
  const r = await run(() => api('/api/ledger'));
  if (!r) return;
  $('wallet').textContent = 'wallet: ' + r.wallet.coins.available + ' coins, ' +
    r.wallet.diamonds.available + ' diamonds, ' + r.wallet.tier;
  $('gift-item').replaceChildren(...r.catalog.map(c =>
    Panels.h('option', { value: c.id }, c.name + ' (' + c.price_coins + ' coins)')));
}

wire();
connect();
