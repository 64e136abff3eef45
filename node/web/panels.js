// The side panels: members (with admin controls), voice, chat and gifts.
// Text from the network only ever goes in as textContent, never as markup.
'use strict';

const Panels = (() => {
  function h(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== false && v !== undefined && v !== null) e.setAttribute(k, v === true ? '' : String(v));
    }
    for (const c of children) e.append(c);
    return e;
  }

  function ago(ms) {
    if (!ms) return 'never seen';
    const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
    if (s < 60) return s + ' s ago';
    if (s < 3600) return Math.round(s / 60) + ' min ago';
    return Math.round(s / 3600) + ' h ago';
  }

  const RANK = { member: 0, admin: 1, owner: 2 };
  // The member whose remove button waits for its confirming click (kept
  // across redraws).
  let armed = null;

  // Members: id, role, online and path, last seen; remove and role for admins.
  function members(ul, g, act) {
    ul.replaceChildren();
    const mine = RANK[g.my_role] ?? -1;
    const sorted = [...g.members].sort((a, b) => (b.me - a.me) || (RANK[b.role] - RANK[a.role]));
    for (const m of sorted) {
      const seen = m.me ? h('span', { class: 'muted' }, 'you')
        : m.online ? h('span', { class: 'muted' }, 'online' + (m.path ? ' (' + m.path + ')' : ''))
          : h('span', { class: 'muted seen', 'data-ms': m.last_seen_ms || 0 }, ago(m.last_seen_ms));
      const li = h('li', { 'data-member': m.id },
        h('span', { class: 'dot' + (m.online || m.me ? ' on' : ''), 'data-talking': m.id }),
        h('span', { class: 'id', title: m.peer }, m.id.slice(0, 12)),
        h('span', { class: 'role' }, m.role),
        seen);
      if (!m.me && mine >= 1 && RANK[m.role] < mine) {
        if (mine === 2) {
          const next = m.role === 'admin' ? 'member' : 'admin';
          li.append(h('button', { type: 'button', 'data-role': m.id, onclick: () => act.role(m.id, next) },
            'make ' + next));
        }
        const rm = h('button', { type: 'button', class: 'danger', 'data-remove': m.id,
          'data-armed': armed === m.id }, armed === m.id ? 'confirm remove' : 'remove');
        rm.addEventListener('click', () => {
          if (armed === m.id) { armed = null; act.remove(m.id); return; }
          armed = m.id;
          members(ul, g, act);
        });
        li.append(rm);
      }
      ul.append(li);
    }
  }

  // Ages the "last seen" texts.
  function ageSeen(root) {
    for (const e of root.querySelectorAll('.seen')) e.textContent = ago(Number(e.dataset.ms));
  }

  function chatLine(msg) {
    const t = new Date(msg.at_ms);
    return h('li', {},
      h('time', { datetime: t.toISOString() }, t.toLocaleTimeString()),
      h('span', { class: 'from' }, msg.from.slice(0, 8)),
      h('span', { class: 'text' }, msg.text));
  }

  function chat(ol, messages) {
    ol.replaceChildren(...messages.map(chatLine));
    ol.scrollTop = ol.scrollHeight;
  }

  function appendChat(ol, msg) {
    ol.append(chatLine(msg));
    ol.scrollTop = ol.scrollHeight;
  }

  // Voice: per-member loss, jitter, MOS, talking dot, volume slider.
  function voice(tbody, v, quality, act) {
    tbody.replaceChildren();
    for (const [id, q] of Object.entries(quality)) {
      const vol = h('input', { type: 'range', min: 0, max: 4, step: 0.1, value: q.volume ?? 1, 'aria-label': 'volume' });
      vol.addEventListener('change', () => act.volume(id, Number(vol.value)));
      tbody.append(h('tr', { 'data-member': id },
        h('td', {}, h('span', { class: 'dot' + (q.talking ? ' talking' : '') }), ' ', id.slice(0, 8)),
        h('td', {}, (100 * q.loss).toFixed(1) + ' %'),
        h('td', {}, q.jitter_ms.toFixed(1) + ' ms'),
        h('td', {}, q.mos.toFixed(2)),
        h('td', {}, v.joined ? vol : '')));
    }
  }

  function gifts(ul, list) {
    ul.replaceChildren(...list.map(g => h('li', {},
      g.from.slice(0, 8) + ' → ' + g.to.slice(0, 8) + ': ' + g.gift +
      ' (' + g.coins + ' coins, ' + g.diamonds + ' diamonds)')));
  }

  return { h, members, ageSeen, chat, appendChat, voice, gifts };
})();
