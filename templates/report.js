"use strict";
/* nmapx report. Every host's ports and script output are in the page already (rendered with
 * the file, so find and print see them); this script adds the query, the host list, counts,
 * findings, certificates, deep links and the structured view. It builds elements with DOM
 * APIs only (textContent, never innerHTML).
 *
 * The data block holds what queries, sorting and counts need of each host, not the script
 * output: that is read from the host sections when the text is needed (free-text queries,
 * the findings' key lines). The structured trees are in a block of their own, parsed the first
 * time a "structured" button is pressed. */
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 100;
  const DAY = 86400;
  const FINDING_ROWS = 10;
  const FINDING_MAX = 200;
  const CERT_MAX = 500;
  const body = document.body;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "text") node.textContent = value;
      else if (name === "class") node.className = value;
      else node.setAttribute(name, value);
    }
    for (const child of children) {
      if (child === null || child === undefined) continue;
      node.append(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  function svgBar(fraction) {
    const ns = "http://www.w3.org/2000/svg";
    const svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 100 10");
    svg.setAttribute("width", "100%");
    svg.setAttribute("height", "12");
    svg.setAttribute("preserveAspectRatio", "none");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    const rect = document.createElementNS(ns, "rect");
    rect.setAttribute("x", "0");
    rect.setAttribute("y", "0");
    rect.setAttribute("height", "10");
    rect.setAttribute("width", String(Math.max(1, Math.round(fraction * 100))));
    svg.append(rect);
    return svg;
  }

  function pad(text, width) { return ("0".repeat(width) + text).slice(-width); }

  /* Sort key: IPv4 and IPv6 numerically (IPv4 first), anything else after, as text. */
  function addressKey(address) {
    if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) {
      return "4" + address.split(".").map((part) => pad(part, 3)).join("");
    }
    if (address.includes(":")) {
      const [head, tail] = address.split("::");
      const left = head ? head.split(":") : [];
      const right = tail !== undefined && tail ? tail.split(":") : [];
      const missing = tail === undefined ? 0 : 8 - left.length - right.length;
      const groups = left.concat(Array(Math.max(0, missing)).fill("0"), right);
      return "6" + groups.map((g) => pad(g.toLowerCase(), 4)).join("");
    }
    return "9" + address;
  }

  function versionKey(text) { return (String(text || "").match(/\d+/g) || []).map(Number); }
  function compareVersions(a, b) {
    for (let i = 0; i < Math.max(a.length, b.length); i++) {
      const x = a[i] === undefined ? 0 : a[i], y = b[i] === undefined ? 0 : b[i];
      if (x !== y) return x < y ? -1 : 1;
    }
    return 0;
  }
  function day(epoch) { return new Date(epoch * 1000).toISOString().slice(0, 10); }

  /* ------------------------------------------------------------ certificates */
  function parseTime(text) {
    if (!text) return null;
    const m = /(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2}))?)?/.exec(text);
    if (!m) return null;
    return Date.UTC(+m[1], +m[2] - 1, +m[3], +(m[4] || 0), +(m[5] || 0), +(m[6] || 0)) / 1000;
  }
  function certState(notAfter, at) {
    if (notAfter === null || !at) return "unknown";
    if (notAfter < at) return "expired";
    if (notAfter < at + 30 * DAY) return "expiring";
    return "valid";
  }
  /* Subject, issuer and notAfter come with the data (read from the structure, or from Nmap's
   * lines, when the report was made); the dates are judged here. */
  function certificate(script, host, port, scanStart) {
    const { subject, issuer, notAfter: notAfterText } = script.cert;
    const notAfter = parseTime(notAfterText);
    const scanned = host.starttime || scanStart || null;
    return {
      subject, issuer, notAfterText, notAfter, scanned,
      port: `${port.portid}/${port.protocol}`, added: script.added,
      atReport: certState(notAfter, data.generated), atScan: certState(notAfter, scanned),
    };
  }

  /* ------------------------------------------------------------ script output from the page */
  const articles = data.hosts.map((_, index) => document.getElementById("h" + index));
  /* A script's output as Nmap prints it (its shown and folded parts), from its host's section. */
  function outputOf(index, ref) {
    const article = articles[index];
    const block = article && article.querySelector(`.script[data-ref="${ref}"]`);
    return block ? Array.from(block.querySelectorAll("pre.out"), (p) => p.textContent).join("\n") : "";
  }
  function outputsOf(index) {
    const article = articles[index];
    /* Simple selectors only: Chromium answers a child combinator by walking the document. */
    return article ? Array.from(article.querySelectorAll("pre.out"), (p) => p.textContent).join(" ") : "";
  }

  /* ------------------------------------------------------------ the index */
  const scanLabels = data.scans.map((s) => s.label);
  const scanStart = Object.fromEntries(data.scans.map((s) => [s.label, s.start]));
  const entries = data.hosts.map((host, index) => {
    const ports = host.ports.map((p) => {
      const s = p.service || {};
      return {
        p, portid: p.portid, protocol: p.protocol, state: p.state,
        name: ((s.tunnel === "ssl" ? "ssl/" : "") + (s.name || "")).toLowerCase(),
        product: (s.product || "").toLowerCase(), version: s.version || "",
        versionKey: versionKey(s.version), cpe: p.cpe.map((c) => c.toLowerCase()),
      };
    });
    const scripts = host.hostscripts.concat(...host.ports.map((p) => p.scripts));
    const os = host.os.map((m) => [m.name, ...m.classes.map((c) => [c.type, c.vendor, c.osfamily, c.osgen].join(" "))].join(" ")).join(" ");
    const cpe = ports.flatMap((p) => p.cpe).concat(host.os.flatMap((m) => m.classes.flatMap((c) => c.cpe.map((x) => x.toLowerCase()))));
    const certs = [];
    for (const port of host.ports) {
      for (const script of port.scripts) {
        if (script.id === "ssl-cert") certs.push(certificate(script, host, port, scanStart[host.scan]));
      }
    }
    return {
      host, index, ports, cpe, certs, _text: null,
      /* Free text over everything, built the first time a query has free words. */
      get text() {
        if (this._text === null) {
          const serviceText = host.ports.map((p) => {
            const s = p.service || {};
            return [p.portid + "/" + p.protocol, p.state, s.name, s.product, s.version, s.extrainfo, s.hostname, s.ostype, s.devicetype, p.cpe.join(" ")].join(" ");
          }).join(" ");
          this._text = [host.address, host.addresses.map((a) => a.addr + " " + (a.vendor || "")).join(" "),
            host.hostnames.map((h) => h.name).join(" "), host.status, host.scan, serviceText,
            scripts.map((s) => s.id).join(" "), outputsOf(index), os, cpe.join(" ")].join(" ").toLowerCase();
        }
        return this._text;
      },
      os: os.toLowerCase(),
      scripts: scripts.map((s) => s.id.toLowerCase()),
      added: scripts.some((s) => s.added),
      open: host.ports.filter((p) => p.state === "open"),
      findings: scripts.length,
    };
  });

  /* Hosts are counted once by address: a group is one address, with an entry per scan. */
  const groupMap = new Map();
  for (const entry of entries) {
    const key = entry.host.address || "#" + entry.index;
    if (!groupMap.has(key)) groupMap.set(key, { key, address: entry.host.address, entries: [] });
    groupMap.get(key).entries.push(entry);
  }
  const groups = Array.from(groupMap.values());
  for (const group of groups) {
    const up = group.entries.filter((e) => e.host.status === "up");
    group.primary = (up.length ? up : group.entries)[(up.length ? up : group.entries).length - 1];
    const h = group.primary.host;
    group.addressKey = addressKey(group.address);
    group.hostname = h.hostnames.length ? h.hostnames[0].name : "";
    group.up = up.length > 0;
    group.os = h.os.length ? h.os[0].name : "";
    group.openList = group.primary.open.map((p) => p.portid + (p.protocol === "udp" ? "/udp" : "")).join(", ");
    group.openCount = group.primary.open.length;
    group.findings = group.primary.findings;
  }

  /* ------------------------------------------------------------ queries */
  const PORT_FIELDS = new Set(["port", "service", "product", "version", "state"]);
  const FIELDS = new Set([...PORT_FIELDS, "script", "os", "cpe", "host", "scan", "cert", "added"]);

  function parseQuery(text) {
    const tokens = [];
    const pattern = /(-?)(?:([A-Za-z]+):)?(<=|>=|<|>|=)?(?:"([^"]*)"?|(\S+))/g;
    let m;
    while ((m = pattern.exec(text)) !== null) {
      if (!m[0].trim()) { pattern.lastIndex++; continue; }
      let field = (m[2] || "").toLowerCase();
      let value = (m[3] || "") + (m[4] !== undefined ? m[4] : (m[5] || ""));
      if (field && !FIELDS.has(field)) { value = m[2] + ":" + value; field = ""; }
      if (!value && !field) continue;
      const token = { negate: m[1] === "-", field, value: value.toLowerCase(), raw: value };
      if (field === "version") {
        const op = /^(<=|>=|<|>|=)(.*)$/.exec(value);
        if (op) { token.op = op[1]; token.key = versionKey(op[2]); token.value = op[2].toLowerCase(); }
      }
      if (field === "port") {
        token.ranges = value.split(",").filter(Boolean).map((item) => {
          const [num, proto] = item.split("/");
          const [lo, hi] = num.split("-").map(Number);
          return { lo, hi: hi === undefined ? lo : hi, proto: proto ? proto.toLowerCase() : null };
        });
      }
      tokens.push(token);
    }
    return tokens;
  }

  function portMatches(port, token) {
    switch (token.field) {
      case "port": return token.ranges.some((r) => port.portid >= r.lo && port.portid <= r.hi && (!r.proto || r.proto === port.protocol));
      case "service": return port.name.includes(token.value);
      case "product": return port.product.includes(token.value);
      case "state": return port.state === token.value;
      case "version": {
        if (!token.op) return port.version.toLowerCase().includes(token.value);
        if (!port.versionKey.length) return false;
        const c = compareVersions(port.versionKey, token.key);
        return { "<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0, "=": c === 0 }[token.op];
      }
      default: return false;
    }
  }

  function hostMatches(entry, token) {
    switch (token.field) {
      case "": return entry.text.includes(token.value);
      case "script": return entry.scripts.some((id) => id.includes(token.value));
      case "os": return entry.os.includes(token.value);
      case "cpe": return entry.cpe.some((c) => c.includes(token.value.replace(/^cpe:/, "")));
      case "host": return entry.host.address.toLowerCase().includes(token.value) || entry.host.hostnames.some((h) => h.name.toLowerCase().includes(token.value));
      case "scan": return entry.host.scan.toLowerCase().includes(token.value);
      case "cert": return entry.certs.some((c) => c.atReport === token.value || (token.value === "any"));
      case "added": return ["yes", "true", "1"].includes(token.value) === entry.added;
      default: return true;
    }
  }

  /* A host matches when every host-wide word matches it and one port matches every port
   * word (so `product:OpenSSH version:<7.4` is about one service, not two; with such words,
   * `-version:<10` is about that port too). Without a `state:` word, port words look at open
   * ports. Negated port words alone exclude the hosts that have such a port. */
  function portWords(tokens) {
    const positive = tokens.filter((t) => PORT_FIELDS.has(t.field) && !t.negate);
    const negative = tokens.filter((t) => PORT_FIELDS.has(t.field) && t.negate);
    const anyState = positive.some((t) => t.field === "state");
    return { positive, negative, anyState };
  }
  function portSelected(port, words) {
    return (words.anyState || port.state.startsWith("open")) && words.positive.every((t) => portMatches(port, t))
      && !words.negative.some((t) => portMatches(port, t));
  }
  function entryMatches(entry, tokens) {
    for (const token of tokens) {
      if (!PORT_FIELDS.has(token.field) && hostMatches(entry, token) === token.negate) return false;
    }
    const words = portWords(tokens);
    if (words.positive.length) return entry.ports.some((p) => portSelected(p, words));
    return !words.negative.some((t) => entry.ports.some((p) => p.state.startsWith("open") && portMatches(p, t)));
  }

  function matchingPorts(entry, tokens) {
    const words = portWords(tokens);
    return entry.ports.filter((p) => p.state === "open" && (!words.positive.length || portSelected(p, words))
      && !words.negative.some((t) => portMatches(p, t)));
  }

  /* ------------------------------------------------------------ state and the URL */
  const state = { query: "", tokens: [], host: null, sort: "address", direction: 1, page: 0,
    serviceSort: "address", serviceDirection: 1, servicePage: 0 };
  const byAddress = groups.slice().sort((a, b) => compare(a, b, "address") || a.entries[0].index - b.entries[0].index);
  let selected = byAddress;
  let matching = byAddress;
  const queryBox = document.getElementById("q");

  function quote(value) { return /[\s"]/.test(value) ? `"${value.replace(/"/g, "")}"` : value; }
  function queryHash(query) { return query ? "#" + new URLSearchParams({ q: query }).toString() : "#"; }
  function hostHash(address) {
    const params = new URLSearchParams();
    if (state.query) params.set("q", state.query);
    params.set("host", address);
    return "#" + params.toString();
  }

  /* ------------------------------------------------------------ host list */
  const hostTable = document.getElementById("host-table");
  const columns = [["address", "Address"], ["hostname", "Hostname"], ["os", "OS"], ["openCount", "Open ports"], ["findings", "Script results"]];
  if (scanLabels.length <= 1) columns.splice(2, 0, ["status", "Status"]);
  function sortHeader(row, cols, current, direction, onSort) {
    row.replaceChildren(...cols.map(([field, title]) => {
      if (!field) return el("th", { scope: "col", text: title });
      const button = el("button", { type: "button", "data-sort": field, text: title });
      button.addEventListener("click", () => onSort(field));
      return el("th", { scope: "col", "aria-sort": field === current ? (direction > 0 ? "ascending" : "descending") : "none" }, button);
    }));
  }
  function compare(a, b, field) {
    if (field === "address") return a.addressKey < b.addressKey ? -1 : a.addressKey > b.addressKey ? 1 : 0;
    const x = a[field], y = b[field];
    if (typeof x === "number") return x - y;
    return String(x).localeCompare(String(y));
  }
  function scanCell(group, label) {
    const entry = group.entries.filter((e) => e.host.scan === label).pop();
    if (!entry) return "\u2014";
    return entry.host.status === "up" ? `up, ${entry.open.length} open` : entry.host.status;
  }

  function renderHostTable() {
    const cols = columns.map(([f, t]) => [f, t]).concat(scanLabels.length > 1 ? scanLabels.map((l) => [null, l]) : []);
    sortHeader(document.getElementById("host-head"), cols, state.sort, state.direction, (field) => {
      state.direction = state.sort === field ? -state.direction : 1;
      state.sort = field;
      sortMatching();
      renderHostTable();
    });
    const pages = Math.ceil(matching.length / PAGE);
    state.page = Math.min(state.page, Math.max(0, pages - 1));
    const slice = matching.slice(state.page * PAGE, (state.page + 1) * PAGE);
    hostTable.tBodies[0].replaceChildren(...slice.map((g) => {
      const cells = [el("td", {}, el("a", { href: hostHash(g.address || g.key), text: g.address || g.key })), el("td", { text: g.hostname })];
      if (scanLabels.length <= 1) cells.push(el("td", { class: "status-" + g.primary.host.status, text: g.primary.host.status }));
      cells.push(el("td", { text: g.os }), el("td", { text: g.openList }), el("td", { text: String(g.findings) }));
      if (scanLabels.length > 1) cells.push(...scanLabels.map((l) => el("td", { text: scanCell(g, l) })));
      return el("tr", { "data-address": g.address }, ...cells);
    }));
    const first = matching.length ? state.page * PAGE + 1 : 0;
    document.getElementById("match-count").textContent =
      `${matching.length} of ${groups.length} hosts` + (slice.length < matching.length ? ` (list shows ${first}\u2013${state.page * PAGE + slice.length})` : "");
    pager(document.getElementById("host-pager"), state.page, pages, (p) => { state.page = p; renderHostTable(); });
  }

  function pager(container, page, pages, onPage) {
    if (pages <= 1) { container.replaceChildren(); return; }
    const previous = el("button", { type: "button", text: "Previous" });
    const next = el("button", { type: "button", text: "Next" });
    previous.disabled = page <= 0;
    next.disabled = page >= pages - 1;
    previous.addEventListener("click", () => onPage(page - 1));
    next.addEventListener("click", () => onPage(page + 1));
    const jump = el("select", { "aria-label": "Page" }, ...Array.from({ length: pages }, (_, i) => el("option", { value: String(i), text: `Page ${i + 1} of ${pages}` })));
    jump.value = String(page);
    jump.addEventListener("change", () => onPage(Number(jump.value)));
    container.replaceChildren(previous, jump, next);
  }

  /* Every host's section is in the page, in the scan's order. With a query, only the sections
   * marked as matching show: marking touches the matching sections only (not all 10,000). */
  const hostList = document.getElementById("host-list");
  let marked = [];
  function renderArticles() {
    for (const article of marked) article.classList.remove("match");
    marked = [];
    hostList.classList.toggle("filtered", Boolean(state.query));
    if (!state.query) return;
    for (const g of selected) {
      for (const e of g.entries) {
        const article = articles[e.index];
        if (article) { article.classList.add("match"); marked.push(article); }
      }
    }
  }

  /* ------------------------------------------------------------ charts */
  function countBy(valuesOf) {
    const counts = new Map();
    for (const g of groups) {
      for (const value of new Set(valuesOf(g.primary))) {
        if (!value) continue;
        counts.set(value, (counts.get(value) || 0) + 1);
      }
    }
    return Array.from(counts.entries()).sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1)).slice(0, 10);
  }
  function osFamily(entry) {
    const top = entry.host.os[0];
    if (!top) return [];
    const c = top.classes[0];
    return [c && c.osfamily ? c.osfamily : top.name.split(" ")[0]];
  }
  function renderCharts() {
    const charts = [
      ["Services", (e) => e.open.map((p) => (p.service && p.service.name) || ""), (v) => `service:${quote(v)}`],
      ["Products and versions", (e) => e.open.filter((p) => p.service && p.service.product).map((p) => [p.service.product, p.service.version || ""].join("\u0000")),
        (v) => { const [p, ver] = v.split("\u0000"); return `product:${quote(p)}` + (ver ? ` version:=${quote(ver)}` : ""); }],
      ["Open ports", (e) => e.open.map((p) => `${p.portid}/${p.protocol}`), (v) => `port:${v}`],
      ["OS families", osFamily, (v) => `os:${quote(v)}`],
      ["Scripts", (e) => e.scripts, (v) => `script:${v}`],
    ];
    document.getElementById("charts").replaceChildren(...charts.map(([title, valuesOf, query]) => {
      const rows = countBy(valuesOf);
      const max = rows.length ? rows[0][1] : 1;
      const id = "chart-" + title.toLowerCase().replace(/\W+/g, "-");
      return el("div", { class: "chart", "data-chart": title },
        el("h4", { id, text: title }),
        rows.length ? el("ol", { "aria-labelledby": id }, ...rows.map(([value, count]) => el("li", {},
          el("a", { href: queryHash(query(value)), "data-query": query(value), text: value.replace("\u0000", " ").trim() }),
          svgBar(count / max), el("span", { class: "n", text: String(count) })))) : el("p", { class: "muted", text: "none" }));
    }));
  }

  /* ------------------------------------------------------------ findings and certificates */
  function keyLines(output) {
    return output.split("\n").map((l) => l.trim()).filter(Boolean).slice(0, 3).join("\n");
  }
  function hostLink(entry) {
    const a = entry.host.address;
    return el("a", { href: hostHash(a), text: a + (entry.host.hostnames.length ? ` (${entry.host.hostnames[0].name})` : "") });
  }
  function renderFindings() {
    const byScript = new Map();
    for (const g of selected) {
      const e = g.primary;
      const add = (script, port, ref) => {
        if (!byScript.has(script.id)) byScript.set(script.id, { hosts: new Set(), rows: [], added: 0 });
        const f = byScript.get(script.id);
        f.hosts.add(g.key);
        if (script.added) f.added++;
        f.rows.push([e, port, script, ref]);
      };
      e.host.ports.forEach((p, i) => p.scripts.forEach((s, j) => add(s, `${p.portid}/${p.protocol}`, `${i}.${j}`)));
      e.host.hostscripts.forEach((s, j) => add(s, "host", `h.${j}`));
    }
    const sorted = Array.from(byScript.entries()).sort((a, b) => b[1].hosts.size - a[1].hosts.size || (a[0] < b[0] ? -1 : 1));
    const container = document.getElementById("findings-list");
    if (!sorted.length) { container.replaceChildren(el("p", { class: "muted", text: "No script results among the selected hosts." })); return; }
    const index = el("p", {}, ...sorted.flatMap(([id, f], i) => [i ? ", " : "", el("a", { href: "#finding-" + id, text: `${id} on ${f.hosts.size}` })]));
    container.replaceChildren(index, ...sorted.map(([id, f]) => {
      const section = el("div", { class: "finding", id: "finding-" + id, "data-script": id });
      const title = `${id} on ${f.hosts.size} host${f.hosts.size === 1 ? "" : "s"}` + (f.added ? ` (${f.added} added by nmapx)` : "");
      const rows = f.rows.slice(0, FINDING_MAX).map(([e, port, s, ref], i) => el("tr", { class: i >= FINDING_ROWS ? "extra" : null },
        el("td", {}, hostLink(e)), el("td", { text: port }),
        el("td", {}, el("pre", { text: keyLines(outputOf(e.index, ref)) })),
        el("td", {}, s.added ? el("span", { class: "badge added", text: "added by nmapx" }) : null)));
      section.append(el("h3", { text: title }), el("div", { class: "scroll", role: "region", "aria-label": `${id} results`, tabindex: "0" },
        el("table", { class: "grid" }, el("thead", {}, el("tr", {}, ...["Host", "Port", "Key lines", "Origin"].map((t) => el("th", { scope: "col", text: t })))), el("tbody", {}, ...rows))));
      if (f.rows.length > FINDING_ROWS) {
        const more = el("button", { type: "button", class: "more-button", "aria-expanded": "false", text: `show all ${Math.min(f.rows.length, FINDING_MAX)} results` });
        more.addEventListener("click", () => {
          const all = section.classList.toggle("all");
          more.setAttribute("aria-expanded", String(all));
          more.textContent = all ? "show fewer" : `show all ${Math.min(f.rows.length, FINDING_MAX)} results`;
        });
        section.append(more);
      }
      if (f.rows.length > FINDING_MAX) section.append(el("p", { class: "muted", text: `${f.rows.length - FINDING_MAX} more: query script:${id} and see the hosts.` }));
      return section;
    }));
  }

  const STATE_WORDS = { expired: "expired", expiring: "expires within 30 days", valid: "valid", unknown: "no date" };
  function renderCertificates() {
    const certs = [];
    for (const g of selected) for (const c of g.primary.certs) certs.push([g.primary, c]);
    certs.sort((a, b) => (a[1].notAfter === null) - (b[1].notAfter === null) || a[1].notAfter - b[1].notAfter);
    const container = document.getElementById("cert-list");
    const expired = certs.filter(([, c]) => c.atReport === "expired").length;
    const expiring = certs.filter(([, c]) => c.atReport === "expiring").length;
    const summary = el("p", { "data-testid": "cert-summary", text: certs.length
      ? `${certs.length} certificates (ssl-cert): ${expired} expired and ${expiring} expiring within 30 days on ${day(data.generated)}, the day of this report.`
      : "No ssl-cert results among the selected hosts." });
    if (!certs.length) { container.replaceChildren(summary); return; }
    const more = certs.length > CERT_MAX ? el("p", { class: "muted", text: `The first ${CERT_MAX} by date are listed; query cert:expired or cert:expiring for the others.` }) : null;
    certs.length = Math.min(certs.length, CERT_MAX);
    const head = ["Host", "Port", "Subject", "Issuer", "Not valid after", `On ${day(data.generated)} (report)`, "On the scan date"];
    container.replaceChildren(summary, el("div", { class: "scroll", role: "region", "aria-label": "Certificates", tabindex: "0" },
      el("table", { class: "grid certs" }, el("thead", {}, el("tr", {}, ...head.map((t) => el("th", { scope: "col", text: t })))),
        el("tbody", {}, ...certs.map(([e, c]) => el("tr", { "data-address": e.host.address, "data-state": c.atReport },
          el("td", {}, hostLink(e)), el("td", { text: c.port }), el("td", { text: c.subject }), el("td", { text: c.issuer }),
          el("td", { text: c.notAfterText }),
          el("td", { class: "cert-" + c.atReport, text: STATE_WORDS[c.atReport] }),
          el("td", { class: "cert-" + c.atScan, text: STATE_WORDS[c.atScan] + (c.scanned ? ` (${day(c.scanned)})` : "") }))))), more));
  }

  /* ------------------------------------------------------------ open services */
  const serviceColumns = [["address", "Address"], ["port", "Port"], ["protocol", "Protocol"], ["service", "Service"], ["product", "Product"], ["version", "Version"], ["cpe", "CPE"]];
  function renderServices() {
    const rows = [];
    for (const g of selected) {
      for (const p of matchingPorts(g.primary, state.tokens)) {
        const s = p.p.service || {};
        rows.push({ addressKey: g.addressKey, address: g.address, port: p.portid, protocol: p.protocol, service: s.name || "",
          product: s.product || "", version: s.version || "", versionKey: p.versionKey, cpe: p.p.cpe.join(" ") });
      }
    }
    const field = state.serviceSort;
    rows.sort((a, b) => {
      let c;
      if (field === "address") c = a.addressKey < b.addressKey ? -1 : a.addressKey > b.addressKey ? 1 : a.port - b.port;
      else if (field === "port") c = a.port - b.port;
      else if (field === "version") c = compareVersions(a.versionKey, b.versionKey);
      else c = String(a[field]).localeCompare(String(b[field]));
      return c * state.serviceDirection;
    });
    sortHeader(document.getElementById("service-head"), serviceColumns, field, state.serviceDirection, (f) => {
      state.serviceDirection = state.serviceSort === f ? -state.serviceDirection : 1;
      state.serviceSort = f;
      renderServices();
    });
    const pages = Math.ceil(rows.length / PAGE);
    state.servicePage = Math.min(state.servicePage, Math.max(0, pages - 1));
    const slice = rows.slice(state.servicePage * PAGE, (state.servicePage + 1) * PAGE);
    document.querySelector("#service-table tbody").replaceChildren(...slice.map((r) => el("tr", {},
      el("td", {}, el("a", { href: hostHash(r.address), text: r.address })),
      ...[String(r.port), r.protocol, r.service, r.product, r.version, r.cpe].map((t) => el("td", { text: t })))));
    document.getElementById("service-count").textContent = `${rows.length} open services`;
    pager(document.getElementById("service-pager"), state.servicePage, pages, (p) => { state.servicePage = p; renderServices(); });
  }

  /* ------------------------------------------------------------ print note */
  function renderPrintNote() {
    const note = document.getElementById("print-note");
    const hidden = [];
    if (state.host) hidden.push(`only host ${state.host} (of ${groups.length})`);
    else if (state.query) hidden.push(`${matching.length} of ${groups.length} hosts, those matching the query \u201c${state.query}\u201d`);
    if (!body.classList.contains("show-down") && groups.some((g) => !g.up)) hidden.push("hosts that are down are left out");
    if (!body.classList.contains("show-closed")) hidden.push("closed ports are left out");
    note.hidden = !(state.host || state.query);
    note.textContent = "Printed: " + hidden.join("; ") + ".";
  }

  /* ------------------------------------------------------------ applying the state */
  /* The hosts the query selects, in address order (findings, certificates, services and
   * sections follow it), and the same hosts in the host list's order: sorting the list
   * re-renders the list alone. */
  function sortMatching() {
    matching = state.sort === "address" && state.direction > 0 ? selected
      : selected.slice().sort((a, b) => compare(a, b, state.sort) * state.direction || a.entries[0].index - b.entries[0].index);
  }
  function refresh(resetPage = true) {
    if (resetPage) { state.page = 0; state.servicePage = 0; }
    selected = state.tokens.length ? byAddress.filter((g) => g.entries.some((e) => entryMatches(e, state.tokens))) : byAddress;
    sortMatching();
    renderHostTable();
    renderArticles();
    renderFindings();
    renderCertificates();
    renderServices();
    renderPrintNote();
  }

  function setQuery(query) {
    state.query = query.trim();
    state.tokens = parseQuery(state.query);
    if (queryBox.value.trim() !== state.query) queryBox.value = state.query;
    refresh();
  }

  /* The host view shows copies of the host's sections (one per scan) in a container of its
   * own and hides the list: one element switched, however many hosts the report has. */
  const hostView = document.getElementById("host-view");
  function openHost(address) {
    const group = groupMap.get(address);
    if (!group) { closeHost(); return; }
    state.host = address;
    const copies = group.entries.map((e) => articles[e.index]).filter(Boolean).map((article) => {
      const copy = article.cloneNode(true);
      copy.id = "view-" + article.id;
      const title = copy.querySelector("h3");
      title.id = "view-" + title.id;
      copy.setAttribute("aria-labelledby", title.id);
      copy.classList.add("current");
      return copy;
    });
    hostView.replaceChildren(...copies);
    body.dataset.view = "host";
    renderPrintNote();
    if (copies.length) {
      copies[0].setAttribute("tabindex", "-1");
      window.scrollTo(0, 0);
      copies[0].focus({ preventScroll: true });
    }
  }
  function closeHost() {
    if (!state.host) return;
    const address = state.host;
    state.host = null;
    body.dataset.view = "list";
    hostView.replaceChildren();
    renderPrintNote();
    const row = hostTable.querySelector(`tr[data-address="${CSS.escape(address)}"] a`);
    if (row) row.focus();
  }

  let openedHere = false;
  function applyHash() {
    const params = new URLSearchParams(location.hash.slice(1));
    const query = params.get("q") || "";
    if (query !== state.query || !state.tokens) setQuery(query);
    const host = params.get("host");
    if (host) openHost(host);
    else closeHost();
  }
  window.addEventListener("hashchange", () => {
    const wasList = !state.host;
    applyHash();
    openedHere = wasList && Boolean(state.host);
  });
  function backToList() {
    if (!state.host) return;
    if (openedHere) { openedHere = false; history.back(); return; }
    history.pushState(null, "", queryHash(state.query));
    closeHost();
  }
  document.getElementById("back").addEventListener("click", backToList);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.host) { event.preventDefault(); backToList(); }
  });

  let timer = 0;
  queryBox.addEventListener("input", () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      setQuery(queryBox.value);
      history.replaceState(null, "", queryHash(state.query));
    }, groups.length > 2000 ? 250 : 60);
  });
  for (const [id, cls] of [["show-down", "show-down"], ["show-closed", "show-closed"], ["show-filtered", "show-filtered"]]) {
    document.getElementById(id).addEventListener("change", (event) => { body.classList.toggle(cls, event.target.checked); renderPrintNote(); });
  }
  document.getElementById("charts").addEventListener("click", (event) => {
    const link = event.target.closest("a[data-query]");
    if (!link) return;
    event.preventDefault();
    history.pushState(null, "", link.getAttribute("href"));
    setQuery(link.dataset.query);
    closeHost();
    document.getElementById("hosts").scrollIntoView();
  });

  /* ------------------------------------------------------------ script blocks */
  /* Nodes are [key, text] or [key, [nodes]] (key null for an unkeyed item). */
  function nodesTable(nodes) {
    const table = el("table", { class: "nested" });
    const tbody = el("tbody");
    for (const [key, content] of nodes) {
      const value = Array.isArray(content) ? nodesTable(content) : el("pre", { text: content });
      if (key === null) tbody.append(el("tr", {}, el("td", { colspan: "2" }, value)));
      else tbody.append(el("tr", {}, el("th", { scope: "row", text: key }), el("td", {}, value)));
    }
    table.append(tbody);
    return table;
  }
  let structure = null;
  function structureOf(block) {
    if (structure === null) structure = JSON.parse(document.getElementById("report-structure").textContent);
    return structure[Number(block.closest("article.host").dataset.index)][block.dataset.ref] || [];
  }
  document.addEventListener("click", (event) => {
    const button = event.target.closest("button.structured, .script > button.more-button, td > button.more-button");
    if (!button) return;
    if (button.classList.contains("structured")) {
      const block = button.closest(".script");
      const existing = block.querySelector(":scope > .structured-view");
      if (existing) existing.remove();
      else block.append(el("div", { class: "structured-view scroll", role: "region", "aria-label": `${block.dataset.script} structured`, tabindex: "0" }, nodesTable(structureOf(block))));
      button.setAttribute("aria-expanded", String(!existing));
      button.textContent = existing ? "structured" : "text only";
      return;
    }
    const rest = button.previousElementSibling;
    if (!button.dataset.label) button.dataset.label = button.textContent;
    const open = rest.hasAttribute("hidden");
    if (open) rest.removeAttribute("hidden"); else rest.setAttribute("hidden", "until-found");
    button.setAttribute("aria-expanded", String(open));
    button.textContent = open ? "show fewer" : button.dataset.label;
  });
  document.addEventListener("beforematch", (event) => {
    const button = event.target.nextElementSibling;
    if (button && button.classList.contains("more-button")) {
      button.dataset.label = button.dataset.label || button.textContent;
      button.setAttribute("aria-expanded", "true");
      button.textContent = "show fewer";
    }
  }, true);

  renderCharts();
  state.tokens = null;
  applyHash();
  if (state.tokens === null) setQuery("");
  document.documentElement.dataset.ready = "true";
})();
