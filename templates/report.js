"use strict";
/* nmapx report: tables built with DOM APIs only (textContent, never innerHTML). */
(function () {
  const data = JSON.parse(document.getElementById("report-data").textContent);
  const PAGE = 100;

  function el(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(props || {})) {
      if (value === null || value === undefined) continue;
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

  function pad(text, width) { return ("0".repeat(width) + text).slice(-width); }

  /* Sort key: IPv4 and IPv6 numerically (IPv4 first), anything else after, as text. */
  function addressKey(address) {
    if (/^\d+\.\d+\.\d+\.\d+$/.test(address)) {
      return "4" + address.split(".").map((part) => pad(part, 3)).join("");
    }
    if (address.includes(":")) {
      let [head, tail] = address.split("::");
      const left = head ? head.split(":") : [];
      const right = tail !== undefined && tail ? tail.split(":") : [];
      const missing = tail === undefined ? 0 : 8 - left.length - right.length;
      const groups = left.concat(Array(Math.max(0, missing)).fill("0"), right);
      return "6" + groups.map((g) => pad(g.toLowerCase(), 4)).join("");
    }
    return "9" + address;
  }

  function scriptCount(host) {
    return host.hostscripts.length + host.ports.reduce((n, p) => n + p.scripts.length, 0);
  }

  function scriptText(scripts) {
    return scripts.map((s) => s.id + " " + s.output).join(" ");
  }

  const hosts = data.hosts.map((host, index) => {
    const services = host.ports.map((p) => [p.portid, p.protocol, p.state,
      p.service ? [p.service.name, p.service.product, p.service.version].join(" ") : "",
      scriptText(p.scripts)].join(" ")).join(" ");
    return {
      host, index,
      address: host.address,
      addressKey: addressKey(host.address),
      hostname: host.hostnames.length ? host.hostnames[0].name : "",
      status: host.status,
      open_tcp: host.open_tcp,
      open_udp: host.open_udp,
      findings: scriptCount(host),
      scan: host.scan,
      text: [host.address, host.hostnames.map((h) => h.name).join(" "), host.status, host.scan,
        services, scriptText(host.hostscripts)].join(" ").toLowerCase(),
    };
  });

  /* ---------------------------------------------------------------- host table */
  const hostState = { filter: "", showDown: false, sort: "address", direction: 1, page: 0 };
  const hostBody = document.querySelector("#host-table tbody");

  function compare(a, b, field) {
    if (field === "address") return a.addressKey < b.addressKey ? -1 : a.addressKey > b.addressKey ? 1 : 0;
    const x = a[field], y = b[field];
    if (typeof x === "number") return x - y;
    return String(x).localeCompare(String(y));
  }

  function visibleHosts() {
    const words = hostState.filter.toLowerCase().split(/\s+/).filter(Boolean);
    return hosts
      .filter((h) => (hostState.showDown || h.status === "up"))
      .filter((h) => words.every((w) => h.text.includes(w)))
      .sort((a, b) => compare(a, b, hostState.sort) * hostState.direction || a.index - b.index);
  }

  function pager(container, page, pages, onPage) {
    const previous = el("button", { type: "button", text: "Previous" });
    const next = el("button", { type: "button", text: "Next" });
    previous.disabled = page <= 0;
    next.disabled = page >= pages - 1;
    previous.addEventListener("click", () => onPage(page - 1));
    next.addEventListener("click", () => onPage(page + 1));
    container.replaceChildren(previous, el("span", { text: `Page ${pages ? page + 1 : 0} of ${pages}` }), next);
  }

  function renderHosts() {
    const rows = visibleHosts();
    const pages = Math.ceil(rows.length / PAGE);
    hostState.page = Math.min(hostState.page, Math.max(0, pages - 1));
    const slice = rows.slice(hostState.page * PAGE, (hostState.page + 1) * PAGE);
    hostBody.replaceChildren(...slice.map((h) => {
      const open = el("button", { type: "button", class: "linkish", text: h.address, "aria-label": `Show host ${h.address}` });
      open.addEventListener("click", () => showHost(h.host));
      return el("tr", { "data-address": h.address },
        el("td", {}, open), el("td", { text: h.hostname }),
        el("td", { class: "status-" + h.status, text: h.status }),
        el("td", { text: String(h.open_tcp) }), el("td", { text: String(h.open_udp) }),
        el("td", { text: String(h.findings) }), el("td", { text: h.scan }));
    }));
    const first = rows.length ? hostState.page * PAGE + 1 : 0;
    document.getElementById("host-count").textContent =
      `Showing ${first}\u2013${hostState.page * PAGE + slice.length} of ${rows.length} hosts (${hosts.length} in the report)`;
    pager(document.getElementById("host-pager"), hostState.page, pages, (p) => { hostState.page = p; renderHosts(); });
    for (const button of document.querySelectorAll("#host-table th button")) {
      button.setAttribute("aria-sort", button.dataset.sort === hostState.sort
        ? (hostState.direction > 0 ? "ascending" : "descending") : "none");
    }
  }

  document.getElementById("host-filter").addEventListener("input", (event) => {
    hostState.filter = event.target.value; hostState.page = 0; renderHosts();
  });
  document.getElementById("show-down").addEventListener("change", (event) => {
    hostState.showDown = event.target.checked; hostState.page = 0; renderHosts();
  });
  for (const button of document.querySelectorAll("#host-table th button")) {
    button.addEventListener("click", () => {
      const field = button.dataset.sort;
      hostState.direction = hostState.sort === field ? -hostState.direction : 1;
      hostState.sort = field;
      renderHosts();
    });
  }

  /* ---------------------------------------------------------------- host detail */
  function nodesTable(nodes) {
    const table = el("table", { class: "nested" });
    for (const node of nodes) {
      const value = node.table ? nodesTable(node.table) : el("span", { text: node.value });
      if (node.key === null) table.append(el("tr", {}, el("td", { colspan: "2" }, value)));
      else table.append(el("tr", {}, el("th", { scope: "row", text: node.key }), el("td", {}, value)));
    }
    return table;
  }

  function scriptBlock(script) {
    const block = el("div", { class: "script", "data-script": script.id },
      el("span", { class: "script-id", text: script.id }),
      script.added ? el("span", { class: "badge added", text: "added by nmapx" }) : null);
    if (script.elements.length) block.append(nodesTable(script.elements));
    else block.append(el("pre", { text: script.output }));
    return block;
  }

  const portState = { closed: false, filtered: false };

  function portVisible(port) {
    if (port.state === "closed") return portState.closed;
    if (port.state.includes("filtered") && port.state !== "open|filtered") return portState.filtered;
    return true;
  }

  function portsTable(host) {
    const table = el("table", { class: "grid ports" },
      el("thead", {}, el("tr", {}, ...["Port", "State", "Service", "Reason", "Product", "Version", "Extra info"]
        .map((title) => el("th", { scope: "col", text: title })))));
    const body = el("tbody");
    for (const port of host.ports.filter(portVisible)) {
      const service = port.service || {};
      body.append(el("tr", { "data-port": `${port.portid}/${port.protocol}` },
        el("td", { text: `${port.portid}/${port.protocol}` }),
        el("td", { class: "state-" + port.state, text: port.state }),
        el("td", { text: (service.tunnel === "ssl" ? "ssl/" : "") + (service.name || "") }),
        el("td", { text: port.reason + (port.reason_ttl !== null ? ` ttl ${port.reason_ttl}` : "") }),
        el("td", { text: service.product || "" }), el("td", { text: service.version || "" }),
        el("td", { text: service.extrainfo || "" })));
      if (port.scripts.length) {
        body.append(el("tr", {}, el("td", { colspan: "7", class: "scripts-row" }, ...port.scripts.map(scriptBlock))));
      }
    }
    table.append(body);
    return el("div", { class: "scroll" }, table);
  }

  function toggle(label, key, host) {
    const box = el("input", { type: "checkbox", id: "show-" + key });
    box.checked = portState[key];
    box.addEventListener("change", () => { portState[key] = box.checked; showHost(host, false); });
    return el("label", {}, box, ` ${label}`);
  }

  function showHost(host, focus = true) {
    const detail = document.getElementById("host-detail");
    const names = host.hostnames.map((h) => `${h.name} (${h.type})`).join(", ");
    const hidden = host.ports.filter((p) => !portVisible(p)).length;
    const extra = host.extraports.map((e) => `${e.count} ${e.state}`).join(", ");
    const facts = [
      ["Status", `${host.status}${host.reason ? ", " + host.reason : ""}${host.reason_ttl !== null ? " ttl " + host.reason_ttl : ""}`],
      ["Addresses", host.addresses.map((a) => a.addr + " (" + a.addrtype + (a.vendor ? ", " + a.vendor : "") + ")").join(", ")],
      ["Hostnames", names],
      ["Scan", host.scan],
      ["Not shown", extra],
      ["Uptime", host.uptime && host.uptime.seconds !== null ? `${host.uptime.seconds} s (last boot ${host.uptime.lastboot || "?"})` : ""],
      ["Distance", host.distance !== null ? `${host.distance} hops` : ""],
    ].filter(([, value]) => value);
    const parts = [
      el("h3", { text: host.address + (host.hostnames.length ? " \u2014 " + host.hostnames[0].name : "") }),
      el("table", { class: "kv" }, ...facts.map(([name, value]) => el("tr", {}, el("th", { scope: "row", text: name }), el("td", { text: value })))),
      el("div", { class: "controls" }, toggle("show closed ports", "closed", host), toggle("show filtered ports", "filtered", host),
        el("span", { class: "muted", text: hidden ? `${hidden} listed ports hidden` : "" })),
      portsTable(host),
    ];
    if (host.hostscripts.length) parts.push(el("h4", { text: "Host script results" }), ...host.hostscripts.map(scriptBlock));
    if (host.os.length) {
      parts.push(el("h4", { text: "OS detection" }), el("ul", {}, ...host.os.map((m) => el("li", { text: `${m.name} (${m.accuracy}%)` }))));
    }
    if (host.trace.length) {
      parts.push(el("h4", { text: "Traceroute" }), el("table", { class: "grid" },
        el("thead", {}, el("tr", {}, ...["Hop", "RTT (ms)", "Address"].map((t) => el("th", { scope: "col", text: t })))),
        el("tbody", {}, ...host.trace.map((hop) => el("tr", {}, el("td", { text: String(hop.ttl) }),
          el("td", { text: hop.rtt === null ? "" : String(hop.rtt) }),
          el("td", { text: hop.host ? `${hop.host} (${hop.ipaddr})` : hop.ipaddr }))))));
    }
    detail.replaceChildren(...parts);
    if (focus) detail.focus();
  }

  /* ---------------------------------------------------------------- services */
  const services = [];
  for (const host of data.hosts) {
    for (const port of host.ports) {
      if (port.state !== "open") continue;
      const service = port.service || {};
      const row = [host.address, String(port.portid), port.protocol, service.name || "",
        service.product || "", service.version || "", port.cpe.join(" ")];
      services.push({ row, key: addressKey(host.address), port: port.portid, text: row.join(" ").toLowerCase() });
    }
  }
  services.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : a.port - b.port));
  const serviceState = { filter: "", page: 0 };

  function renderServices() {
    const words = serviceState.filter.toLowerCase().split(/\s+/).filter(Boolean);
    const rows = services.filter((s) => words.every((w) => s.text.includes(w)));
    const pages = Math.ceil(rows.length / PAGE);
    serviceState.page = Math.min(serviceState.page, Math.max(0, pages - 1));
    const slice = rows.slice(serviceState.page * PAGE, (serviceState.page + 1) * PAGE);
    document.querySelector("#service-table tbody").replaceChildren(
      ...slice.map((s) => el("tr", {}, ...s.row.map((cell) => el("td", { text: cell })))));
    document.getElementById("service-count").textContent = `${rows.length} of ${services.length} open services`;
    pager(document.getElementById("service-pager"), serviceState.page, pages, (p) => { serviceState.page = p; renderServices(); });
  }
  document.getElementById("service-filter").addEventListener("input", (event) => {
    serviceState.filter = event.target.value; serviceState.page = 0; renderServices();
  });

  renderHosts();
  renderServices();
  document.documentElement.dataset.ready = "true";
})();
