// Runs in <head> before the first paint (a classic script, no module, no Python): lays the
// page out in the viewer's language direction and theme at once, so the skeleton is not
// drawn left-to-right and light and then flipped when Python mounts. The same rules as
// zariz.ui.app.apply_locale and zariz.ui.prefs (Python re-applies them when it mounts).
(function () {
  var root = document.documentElement;
  function stored(key) {
    try { return window.localStorage.getItem(key); } catch (e) { return null; }
  }
  function pick(candidates) {
    for (var i = 0; i < candidates.length; i++) {
      var raw = candidates[i];
      if (!raw) continue;
      var base = String(raw).trim().toLowerCase().replace("_", "-").split("-")[0];
      if (base === "iw") base = "he";
      if (base === "en" || base === "he") return base;
    }
    return "en";
  }
  var langs = [new URLSearchParams(location.search).get("lang"), stored("zariz.lang")];
  langs = langs.concat(navigator.languages || [navigator.language]);
  var lang = pick(langs);
  root.setAttribute("lang", lang);
  root.setAttribute("dir", lang === "he" ? "rtl" : "ltr");
  // zariz.ui.prefs: "light" / "dark" pin the theme; anything else (absent) follows the
  // system's prefers-color-scheme, which app.css reads itself (color-scheme: light dark).
  var theme = stored("zariz.theme");
  if (theme === "dark" || theme === "light") root.setAttribute("data-theme", theme);
  else root.removeAttribute("data-theme");
})();
