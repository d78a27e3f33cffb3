// The boot failure overlay: when the page cannot start, say why, which file, and what to
// run - never an endless skeleton. Plain JS (a classic script in <head>, after early.js):
// Python may be exactly what failed, so nothing here depends on it or on PyScript.
//
// It watches, until the app mounts (#app[data-boot=ready]):
//   - the runtime's files (PyScript, Pyodide, the lock file, the app bundle...): an HTTP
//     error or a network error in their Resource Timing entries, a <script> that failed to
//     load, a rejection nobody handled; then every critical file is asked for again (HEAD)
//     so the overlay lists all that fail, the first in load order named;
//   - PyScript's own error box (.py-error: an error it caught in a <script type=py>, e.g. a
//     SyntaxError in app/main.py), taken over and hidden;
//   - a boot that has not mounted after TIMEOUT_S (?boot_timeout=N to change it): the
//     files are checked, and a notice says it is still waiting (gone once the app mounts).
// Python reports its own errors through globalThis.__zarizBootError.python(json) (app/main.py
// and zariz.boot), and the boot loader a failed runtime through .runtimeFailed(error).
// Texts in English and Hebrew, chosen by <html lang> (set by early.js): the Python string
// catalogue may be what failed.
(function () {
  "use strict";
  if (window.__zarizBootError) return;

  var TIMEOUT_S = 60;
  var VENDOR = "/static/vendor/";
  // What the page needs before Python runs, in the order it loads them.
  var CRITICAL = [
    "/static/vendor/pyscript/core.js",
    "/pyscript.toml",
    "/static/vendor/pyodide/zariz-loader.mjs",
    "/static/vendor/pyodide/pyodide.mjs",
    "/static/vendor/pyodide/pyodide.asm.mjs",
    "/static/vendor/pyodide/pyodide.asm.wasm",
    "/static/vendor/pyodide/pyodide-lock.json",
    "/static/vendor/pyodide/python_stdlib.zip",
    "/app/bundle.zip",
    "/app/main.py",
  ];
  // The snapshot's fetcher (static/boot/snapshot-fetch.mjs) is left out: without it the
  // loader boots plain, and the app works.
  var WATCHED =
    /^\/(static\/vendor\/|static\/boot\/(?!snapshot-fetch\.mjs)|pyscript\.toml$|app\/bundle\.zip$|app\/main\.py$)/;

  var TEXT = {
    en: {
      title: "Zariz admin could not start",
      missing: "The server has no file at",
      missingMore: "Also missing:",
      noVendor: "The folder static/vendor is missing or empty.",
      network: "The connection to the server failed while loading",
      status: "HTTP {status}",
      noAnswer: "no answer",
      fixVendor:
        "The browser runtime (PyScript and Pyodide) is not set up. Run one of these in " +
        "the repository, then reload:",
      fixVendorServe: "sets up the vendor files and starts the server",
      fixVendorSetup: "only copies the vendor files into static/vendor",
      fixApp: "The server's folder is missing the app's files. Start it from the repository:",
      fixNetwork: "Is the server still running? Start it again, then reload:",
      runtime: "The Python runtime failed to load:",
      pythonTitle: "Python error while starting",
      pythonLead: "The app's Python raised an error before the page could mount:",
      where: "Where:",
      fixPython: "Fix the code there and reload the page.",
      traceback: "Traceback",
      slowTitle: "Zariz admin is taking long to start",
      slowLead: "Python has not started after {s} seconds. Still waiting…",
      slowHint:
        "Every runtime file answered. The browser console has the details; a boot without " +
        "the memory snapshot may help:",
      lastError: "Last error:",
      reload: "Reload",
    },
    he: {
      title: "ממשק הניהול של Zariz לא עלה",
      missing: "אין בשרת קובץ בנתיב",
      missingMore: "חסרים גם:",
      noVendor: "התיקייה static/vendor חסרה או ריקה.",
      network: "החיבור לשרת נכשל בזמן טעינת",
      status: "HTTP {status}",
      noAnswer: "אין תשובה",
      fixVendor:
        "סביבת הריצה בדפדפן (PyScript ו-Pyodide) לא הותקנה. הריצו באחת מהדרכים האלה " +
        "בתיקיית הפרויקט, ואז טענו מחדש:",
      fixVendorServe: "מתקינה את קבצי ה-vendor ומפעילה את השרת",
      fixVendorSetup: "רק מעתיקה את קבצי ה-vendor אל static/vendor",
      fixApp: "בתיקיית השרת חסרים קבצי האפליקציה. הפעילו אותו מתיקיית הפרויקט:",
      fixNetwork: "האם השרת עדיין פועל? הפעילו אותו שוב, ואז טענו מחדש:",
      runtime: "טעינת סביבת הריצה של Python נכשלה:",
      pythonTitle: "שגיאת Python בזמן העלייה",
      pythonLead: "קוד ה-Python של האפליקציה נכשל לפני שהדף עלה:",
      where: "מיקום:",
      fixPython: "תקנו את הקוד במקום הזה וטענו את הדף מחדש.",
      traceback: "מעקב קריאות (traceback)",
      slowTitle: "העלייה של Zariz admin מתעכבת",
      slowLead: "Python עדיין לא עלה אחרי {s} שניות. ממשיכים לחכות…",
      slowHint:
        "כל קבצי סביבת הריצה זמינים. הפרטים בקונסולה של הדפדפן; אפשר לנסות עלייה בלי " +
        "ה-snapshot:",
      lastError: "השגיאה האחרונה:",
      reload: "טעינה מחדש",
    },
  };

  var state = {
    shown: null, // the report on screen: {kind, ...}
    mounted: false,
    hint: "", // the last unexplained error (shown with the timeout notice)
    checking: null, // the pending check of the runtime's files
    timer: 0,
    observers: [],
  };

  function lang() {
    var value = (document.documentElement.getAttribute("lang") || "en").toLowerCase();
    return value.split("-")[0] === "he" ? "he" : "en";
  }

  function text(key, params) {
    var value = TEXT[lang()][key] || TEXT.en[key] || key;
    for (var name in params || {}) value = value.split("{" + name + "}").join(params[name]);
    return value;
  }

  function pathOf(url) {
    try {
      var parsed = new URL(url, location.href);
      return parsed.origin === location.origin ? parsed.pathname : "";
    } catch (e) {
      return "";
    }
  }

  function isMounted() {
    var app = document.getElementById("app");
    return !!app && app.getAttribute("data-boot") === "ready";
  }

  // -- the overlay ------------------------------------------------------------------------

  function el(tag, attrs, children) {
    var node = document.createElement(tag);
    for (var name in attrs || {}) {
      if (attrs[name] !== null && attrs[name] !== undefined) node.setAttribute(name, attrs[name]);
    }
    (children || []).forEach(function (child) {
      if (child === null || child === undefined || child === "") return;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    });
    return node;
  }

  // A file `make`/setup.sh copies into static/vendor (the loader there is ours, served
  // from static/boot).
  function isVendor(path) {
    return path.indexOf(VENDOR) === 0 && path.indexOf("/zariz-loader.mjs") < 0;
  }

  function code(value, testid) {
    return el("code", { dir: "ltr", "data-testid": testid || null }, [value]);
  }

  function command(cmd, why) {
    return el("li", null, [el("code", { dir: "ltr", class: "boot-error-cmd" }, [cmd]), " ", why]);
  }

  function fileLine(failure) {
    var status = failure.status ? text("status", { status: String(failure.status) })
      : text("noAnswer");
    return el("span", null, [code(failure.path, "boot-error-file"), " (" + status + ")"]);
  }

  function loadBody(report) {
    var first = report.failures[0];
    var body = [];
    var network = !first.status;
    body.push(el("p", { class: "boot-error-lead" }, [
      text(network ? "network" : "missing"), " ", fileLine(first),
    ]));
    var missing404 = function (path) {
      return report.failures.some(function (f) { return f.path === path && f.status === 404; });
    };
    if (CRITICAL.filter(isVendor).every(missing404)) {
      body.push(el("p", { "data-testid": "boot-error-no-vendor" }, [text("noVendor")]));
    }
    var more = report.failures.slice(1).filter(function (f) { return f.status; });
    if (more.length) {
      body.push(el("p", null, [text("missingMore")]));
      body.push(el("ul", { class: "boot-error-files" }, more.map(function (f) {
        var status = text("status", { status: String(f.status) });
        return el("li", null, [code(f.path), " (" + status + ")"]);
      })));
    }
    if (network) {
      body.push(el("p", null, [text("fixNetwork")]));
      body.push(el("ul", { class: "boot-error-fix" }, [command("make serve", "")]));
    } else if (isVendor(first.path)) {
      body.push(el("p", null, [text("fixVendor")]));
      body.push(el("ul", { class: "boot-error-fix" }, [
        command("make serve", text("fixVendorServe")),
        command("scripts/setup.sh vendor", text("fixVendorSetup")),
      ]));
    } else {
      body.push(el("p", null, [text("fixApp")]));
      body.push(el("ul", { class: "boot-error-fix" }, [command("make serve", "")]));
    }
    return body;
  }

  function runtimeBody(report) {
    return [
      el("p", { class: "boot-error-lead" }, [text("runtime")]),
      el("pre", { dir: "ltr", class: "boot-error-detail" }, [report.detail]),
    ];
  }

  function pythonBody(report) {
    var body = [
      el("p", { class: "boot-error-lead" }, [text("pythonLead")]),
      el("p", { class: "boot-error-exc", dir: "ltr" }, [
        el("strong", { "data-testid": "boot-error-type" }, [report.type]),
        report.message ? ": " : "",
        el("span", { "data-testid": "boot-error-message" }, [report.message]),
      ]),
    ];
    if (report.where) {
      body.push(el("p", null, [text("where"), " ", code(report.where, "boot-error-where")]));
    }
    body.push(el("p", null, [text("fixPython")]));
    body.push(el("details", { class: "boot-error-tb", open: "" }, [
      el("summary", null, [text("traceback")]),
      el("pre", { dir: "ltr", "data-testid": "boot-error-traceback" }, [report.traceback]),
    ]));
    return body;
  }

  function slowBody(report) {
    var body = [
      el("p", { class: "boot-error-lead" }, [text("slowLead", { s: String(report.seconds) })]),
      el("p", null, [text("slowHint"), " ", code("?boot=plain")]),
    ];
    if (report.detail) {
      body.push(el("p", null, [text("lastError")]));
      body.push(el("pre", { dir: "ltr", class: "boot-error-detail" }, [report.detail]));
    }
    return body;
  }

  function render(report) {
    var old = document.querySelector("[data-testid=boot-error]");
    if (old) old.remove();
    var he = lang() === "he";
    var bodies = { load: loadBody, runtime: runtimeBody, python: pythonBody, slow: slowBody };
    var title = report.kind === "python" ? text("pythonTitle")
      : report.kind === "slow" ? text("slowTitle") : text("title");
    var reload = el("button", { type: "button", class: "boot-error-reload",
                                "data-testid": "boot-error-reload" }, [text("reload")]);
    reload.addEventListener("click", function () { location.reload(); });
    var overlay = el("div", {
      class: "boot-error", "data-testid": "boot-error", "data-kind": report.kind,
      role: "alert", "aria-labelledby": "boot-error-title",
      lang: he ? "he" : "en", dir: he ? "rtl" : "ltr",
    }, [
      el("div", { class: "boot-error-card" }, [
        el("h1", { id: "boot-error-title", class: "boot-error-title", tabindex: "-1" }, [title]),
      ].concat(bodies[report.kind](report), [
        el("div", { class: "boot-error-actions" }, [reload]),
      ])),
    ]);
    (document.body || document.documentElement).appendChild(overlay);
    document.documentElement.setAttribute("data-boot-error", report.kind);
    var app = document.getElementById("app");
    if (app && report.kind !== "slow") {
      // The skeleton behind is not the page: keep focus and screen readers off it.
      app.setAttribute("data-boot", "error");
      app.setAttribute("inert", "");
      app.setAttribute("aria-hidden", "true");
    }
    try {
      overlay.querySelector("h1").focus({ preventScroll: true });
    } catch (e) {
      // focus is best effort
    }
  }

  function show(report) {
    if (state.mounted && report.kind !== "python") return;
    var current = state.shown;
    // The first definite cause stays; a timeout notice gives way to any of them.
    if (current && current.kind !== "slow") return;
    if (current && report.kind === "slow") return;
    state.shown = report;
    // A slow boot may still finish: not an error (tests count console errors).
    (report.kind === "slow" ? console.warn : console.error)("[boot] " + describe(report));
    if (document.body) render(report); // else ready() shows it once the body exists
  }

  function describe(report) {
    if (report.kind === "load") {
      return "runtime file failed: " + report.failures.map(function (f) {
        return f.path + " (" + (f.status ? "HTTP " + f.status : "no answer") + ")";
      }).join(", ");
    }
    if (report.kind === "python") return "Python error: " + report.type + ": " + report.message;
    if (report.kind === "slow") return "not mounted after " + report.seconds + " s";
    return "runtime failed: " + report.detail;
  }

  function hideSlow() {
    if (!state.shown || state.shown.kind !== "slow") return;
    state.shown = null;
    var node = document.querySelector("[data-testid=boot-error]");
    if (node) node.remove();
    document.documentElement.removeAttribute("data-boot-error");
  }

  // -- the runtime's files ----------------------------------------------------------------

  var PROBE_MARK = "boot_check=1";
  var suspects = {}; // path -> the HTTP status seen while loading it (0: no answer)
  var suspectOrder = [];

  // HEAD, marked so that its own Resource Timing entry is not taken for the page's load.
  function probe(path) {
    var url = path + (path.indexOf("?") < 0 ? "?" : "&") + PROBE_MARK;
    return fetch(url, { method: "HEAD", cache: "no-store", credentials: "same-origin" }).then(
      function (response) { return { path: path, ok: response.ok, status: response.status }; },
      function () { return { path: path, ok: false, status: 0 }; }
    );
  }

  // Every critical file (and each suspect) asked again, once at a time: the failures in
  // load order. A status seen while loading is the fact, the check only completes it.
  function check(otherwise) {
    if (state.checking) {
      if (otherwise) state.checking.then(function (found) { if (!found) otherwise(); });
      return;
    }
    state.checking = new Promise(function (resolve) { setTimeout(resolve, 50); }).then(function () {
      var extra = suspectOrder.filter(function (p) { return CRITICAL.indexOf(p) < 0; });
      var paths = CRITICAL.concat(extra);
      return Promise.all(paths.map(probe));
    }).then(function (results) {
      state.checking = null;
      var failures = [];
      results.forEach(function (r) {
        var seen = suspects[r.path];
        if (seen >= 400) failures.push({ path: r.path, status: r.ok ? seen : r.status || seen });
        else if (!r.ok) failures.push({ path: r.path, status: r.status });
        // It failed while the page loaded it: the boot does not retry, so even a file
        // that answers now is the cause (and a reload the cure).
        else if (seen === 0) failures.push({ path: r.path, status: 0 });
      });
      if (failures.length) show({ kind: "load", failures: failures });
      else if (otherwise) otherwise();
      return failures.length > 0;
    });
  }

  function fileFailed(path, status) {
    if (state.mounted || (state.shown && state.shown.kind !== "slow")) return;
    if (!(path in suspects)) suspectOrder.push(path);
    if (!(suspects[path] >= 400)) suspects[path] = status;
    check(null);
  }

  function watchResources() {
    if (typeof PerformanceObserver !== "function") return;
    try {
      var observer = new PerformanceObserver(function (list) {
        list.getEntries().forEach(function (entry) {
          var path = pathOf(entry.name);
          if (!WATCHED.test(path) || entry.name.indexOf(PROBE_MARK) >= 0) return;
          if (typeof entry.responseStatus !== "number") return;
          if (entry.responseStatus >= 400) fileFailed(path, entry.responseStatus);
          else if (entry.responseStatus === 0 && entry.transferSize === 0
                   && entry.decodedBodySize === 0) fileFailed(path, 0);
        });
      });
      observer.observe({ type: "resource", buffered: true });
      state.observers.push(observer);
    } catch (e) {
      // an old browser without Resource Timing levels: the element errors and the timeout remain
    }
  }

  function onElementError(event) {
    var target = event.target;
    if (!target || target === window || !target.tagName) return;
    var tag = target.tagName.toLowerCase();
    if (tag !== "script" && !(tag === "link" && /modulepreload/.test(target.rel || ""))) return;
    var path = pathOf(target.src || target.href || "");
    if (WATCHED.test(path)) fileFailed(path, 0);
  }

  function onRejection(event) {
    if (state.mounted) return;
    var reason = event.reason;
    state.hint = String((reason && reason.message) || reason);
    // A module that could not be fetched names its importer, not the missing file: ask.
    check(null);
  }

  // -- Python errors ----------------------------------------------------------------------

  // Pyodide's virtual file system -> the repository: the bundle (app/zariz) is unpacked
  // into /home/pyodide, and PyScript runs app/main.py as "<exec>".
  function repoPath(file) {
    if (file.indexOf("/home/pyodide/") === 0) return "app/" + file.slice("/home/pyodide/".length);
    if (file === "<exec>") return "app/main.py";
    return file;
  }

  var FRAME = /^(\s*[|+]?\s*)File "([^"]+)", line (\d+)(.*)$/;

  // The traceback with repository paths (path:line), PyScript's runner frames left out;
  // and where: the innermost location in our code (the last one of the traceback).
  function mapTraceback(raw) {
    var lines = String(raw || "").replace(/^PythonError:\s*/, "").replace(/\s+$/, "").split("\n");
    var out = [];
    var where = "";
    var last = "";
    var skipping = false;
    lines.forEach(function (line) {
      var match = FRAME.exec(line);
      if (match) {
        var file = match[2];
        skipping = /\/_pyodide\/|^<frozen /.test(file);
        if (skipping) return;
        var mapped = repoPath(file) + ":" + match[3];
        last = mapped;
        if (mapped.indexOf("app/") === 0) where = mapped;
        out.push(match[1] + "File " + mapped + match[4]);
        return;
      }
      if (skipping && /^\s/.test(line)) return; // the source lines of a skipped frame
      skipping = false;
      out.push(line);
    });
    return { text: out.join("\n"), where: where || last };
  }

  function lastLine(raw) {
    var lines = String(raw || "").replace(/\s+$/, "").split("\n");
    var tail = lines[lines.length - 1] || "";
    var match = /^([A-Za-z_][\w.]*)(?::\s?(.*))?$/.exec(tail.trim());
    return match ? { type: match[1], message: match[2] || "" } : { type: "Error", message: tail };
  }

  function python(report) {
    var data = report;
    if (typeof report === "string") {
      try {
        data = JSON.parse(report);
      } catch (e) {
        data = { traceback: report };
      }
    }
    data = data || {};
    var mapped = mapTraceback(data.traceback || "");
    var tail = lastLine(mapped.text);
    show({
      kind: "python",
      type: String(data.type || tail.type),
      message: String(data.message === undefined ? tail.message : data.message),
      where: mapped.where,
      traceback: mapped.text,
    });
  }

  // PyScript shows an error of a <script type=py> it ran (one our entry could not catch: a
  // SyntaxError in app/main.py itself) in a box of its own: ours replaces it.
  function watchPyScriptErrors() {
    var take = function (node) {
      if (!node || node.nodeType !== 1 || !node.classList.contains("py-error")) return;
      var value = node.textContent || "";
      if (!/Traceback|Error/.test(value) || state.mounted) return;
      python(value);
    };
    var observer = new MutationObserver(function (records) {
      records.forEach(function (record) { record.addedNodes.forEach(take); });
    });
    observer.observe(document.body, { childList: true });
    state.observers.push(observer);
    Array.prototype.forEach.call(document.querySelectorAll(".py-error"), take);
  }

  // -- the end of the boot ----------------------------------------------------------------

  function mountedNow() {
    state.mounted = true;
    clearTimeout(state.timer);
    state.observers.forEach(function (o) { o.disconnect(); });
    state.observers = [];
    window.removeEventListener("error", onElementError, true);
    window.removeEventListener("unhandledrejection", onRejection);
    hideSlow();
  }

  function watchMount() {
    var app = document.getElementById("app");
    if (!app) return;
    if (isMounted()) return mountedNow();
    var observer = new MutationObserver(function () {
      if (isMounted()) mountedNow();
    });
    observer.observe(app, { attributes: true, attributeFilter: ["data-boot"] });
    state.observers.push(observer);
  }

  function timeoutSeconds() {
    try {
      var asked = Number(new URLSearchParams(location.search).get("boot_timeout"));
      if (asked > 0) return asked;
    } catch (e) {
      // no query: the default
    }
    return TIMEOUT_S;
  }

  function onTimeout(seconds) {
    if (state.mounted || state.shown) return;
    check(function () { show({ kind: "slow", seconds: seconds, detail: state.hint }); });
  }

  window.__zarizBootError = {
    python: python,
    runtimeFailed: function (error) {
      var detail = String((error && error.message) || error);
      state.hint = detail;
      check(function () { show({ kind: "runtime", detail: detail }); });
    },
    current: function () { return state.shown; },
    mapTraceback: mapTraceback,
  };

  window.addEventListener("error", onElementError, true);
  window.addEventListener("unhandledrejection", onRejection);
  watchResources();
  var seconds = timeoutSeconds();
  state.timer = setTimeout(function () { onTimeout(seconds); }, seconds * 1000);
  function ready() {
    watchMount();
    if (!state.mounted) watchPyScriptErrors();
    if (state.shown && !document.querySelector("[data-testid=boot-error]")) render(state.shown);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", ready);
  else ready();
})();
