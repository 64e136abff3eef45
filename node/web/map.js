// The group's map, drawn as SVG with no tiles: members with their precision
// circles, our position and proximity ring, geofences, a grid and a scale
// bar. Positions are projected on a local plane around the view's centre
// (fine for the few kilometres a group spans).
'use strict';

const AuraMap = (() => {
  const NS = 'http://www.w3.org/2000/svg';
  const R = 6371008.8;
  const W = 800, H = 560, PAD = 40;

  function el(name, attrs, text) {
    const e = document.createElementNS(NS, name);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, String(v));
    if (text !== undefined) e.textContent = text;
    return e;
  }

  // Metres east/north of (lat0, lon0).
  function local(lat, lon, lat0, lon0) {
    const rad = Math.PI / 180;
    return [(lon - lon0) * rad * Math.cos(lat0 * rad) * R, (lat - lat0) * rad * R];
  }

  // A round distance of about `m` metres: 1, 2 or 5 times a power of ten.
  function niceMetres(m) {
    const p = Math.pow(10, Math.floor(Math.log10(Math.max(m, 1))));
    for (const f of [5, 2, 1]) if (f * p <= m) return f * p;
    return p;
  }

  function label(m) {
    return m >= 1000 ? (m / 1000) + ' km' : m + ' m';
  }

  // Everything to draw, as points with a radius (metres), to fit the view.
  function extents(view) {
    const pts = [];
    for (const m of view.members) if (m.fix) pts.push([m.fix.lat, m.fix.lon, m.fix.uncertainty_m]);
    if (view.own) pts.push([view.own.lat, view.own.lon, view.proximity_m]);
    for (const f of view.fences) {
      if (f.kind === 'circle') pts.push([f.lat, f.lon, f.radius_m]);
      else for (const [lat, lon] of f.points) pts.push([lat, lon, 0]);
    }
    return pts;
  }

  // Draws `view` = {members, own, proximity_m, fences} into `svg`.
  function draw(svg, view) {
    svg.replaceChildren();
    const pts = extents(view);
    if (pts.length === 0) {
      svg.append(el('text', { x: W / 2, y: H / 2, 'text-anchor': 'middle', class: 'map-label' },
        'No positions yet: set yours below, or wait for members to share theirs.'));
      return;
    }
    const lat0 = pts.reduce((s, p) => s + p[0], 0) / pts.length;
    const lon0 = pts.reduce((s, p) => s + p[1], 0) / pts.length;
    let minX = Infinity, maxX = -Infinity, minY = Infinity, maxY = -Infinity;
    for (const [lat, lon, r] of pts) {
      const [x, y] = local(lat, lon, lat0, lon0);
      minX = Math.min(minX, x - r); maxX = Math.max(maxX, x + r);
      minY = Math.min(minY, y - r); maxY = Math.max(maxY, y + r);
    }
    const span = Math.max(maxX - minX, (maxY - minY) * W / H, 300);
    const scale = (W - 2 * PAD) / span; // pixels per metre
    const cx = (minX + maxX) / 2, cy = (minY + maxY) / 2;
    const xy = (lat, lon) => {
      const [x, y] = local(lat, lon, lat0, lon0);
      return [W / 2 + (x - cx) * scale, H / 2 - (y - cy) * scale];
    };

    const step = niceMetres(150 / scale);
    const grid = el('g', { class: 'map-grid' });
    const halfW = W / 2 / scale, halfH = H / 2 / scale;
    for (let k = Math.ceil((cx - halfW) / step); k * step <= cx + halfW; k++) {
      const x = W / 2 + (k * step - cx) * scale;
      grid.append(el('line', { x1: x, y1: 0, x2: x, y2: H }));
    }
    for (let k = Math.ceil((cy - halfH) / step); k * step <= cy + halfH; k++) {
      const y = H / 2 - (k * step - cy) * scale;
      grid.append(el('line', { x1: 0, y1: y, x2: W, y2: y }));
    }
    svg.append(grid);

    for (const f of view.fences) {
      let shape, at;
      if (f.kind === 'circle') {
        at = xy(f.lat, f.lon);
        shape = el('circle', { cx: at[0], cy: at[1], r: f.radius_m * scale });
      } else {
        const ps = f.points.map(([lat, lon]) => xy(lat, lon));
        at = ps[0] || [0, 0];
        shape = el('polygon', { points: ps.map(p => p.join(',')).join(' ') });
      }
      const g = el('g', { class: 'map-fence', 'data-fence': f.name });
      g.append(shape, el('text', { x: at[0] + 4, y: at[1] - 4, class: 'map-label' }, f.name));
      svg.append(g);
    }

    if (view.own) {
      const [x, y] = xy(view.own.lat, view.own.lon);
      const g = el('g', { class: 'map-own', 'data-lat': view.own.lat, 'data-lon': view.own.lon });
      g.append(el('circle', { class: 'ring', cx: x, cy: y, r: view.proximity_m * scale }),
        el('circle', { class: 'pin', cx: x, cy: y, r: 7 }),
        el('text', { x: x + 10, y: y + 4, class: 'map-label' }, 'you'));
      svg.append(g);
    }

    for (const m of view.members) {
      if (!m.fix || m.me) continue;
      const [x, y] = xy(m.fix.lat, m.fix.lon);
      const g = el('g', {
        class: 'map-member', 'data-member': m.id, 'data-lat': m.fix.lat, 'data-lon': m.fix.lon,
      });
      g.append(el('circle', { class: 'precision', cx: x, cy: y, r: m.fix.uncertainty_m * scale }),
        el('circle', { class: 'pin', cx: x, cy: y, r: 6 }),
        el('text', { x: x + 9, y: y + 4, class: 'map-label' }, m.id.slice(0, 8)));
      svg.append(g);
    }

    const bar = niceMetres(W / 4 / scale);
    const sb = el('g', { class: 'map-scalebar' });
    sb.append(el('path', { class: 'map-scale', d: `M20 ${H - 26} v6 h${bar * scale} v-6` }),
      el('text', { x: 20, y: H - 32, class: 'map-label' }, label(bar)));
    svg.append(sb, el('text', { x: W - 24, y: 24, class: 'map-label', 'font-weight': 'bold' }, 'N ↑'));
  }

  return { draw, niceMetres };
})();
