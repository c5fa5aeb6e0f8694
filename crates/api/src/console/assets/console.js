// The operator console's only script (served from /ui/assets, as the CSP requires): the live
// preview of the scheduler form, the self-updating history and operations tables, and the
// operations chart (uPlot). Pages work without it, except for those live parts.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  function post(url, form) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "x-csrf-token": csrf, "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams(new FormData(form)).toString(),
    });
  }

  function text(tag, s, cls) {
    var e = document.createElement(tag);
    e.textContent = s;
    if (cls) e.className = cls;
    return e;
  }

  // Live preview: the next fires of the draft, or the API's message beside the field at fault.
  var form = document.getElementById("scheduler-form");
  if (form) {
    var out = document.getElementById("preview");
    var timer = null;
    var seq = 0;
    var refresh = function () {
      var mine = ++seq;
      post(form.dataset.preview, form)
        .then(function (r) { return r.json(); })
        .then(function (a) {
          if (mine !== seq) return;
          // Errors shown so far (an earlier answer's, or the server's after a refused save)
          // go, unless they are this answer's: the preview validates the draft as a save does.
          form.querySelectorAll(".field-error").forEach(function (e) {
            var f = e.closest("[data-field]");
            if (!a.message || e.textContent !== a.message || !f || f.dataset.field !== a.field) e.remove();
          });
          form.querySelectorAll("[aria-invalid]").forEach(function (e) {
            if (!a.message || e.id !== a.field) e.removeAttribute("aria-invalid");
          });
          var banner = document.getElementById("form-error");
          if (banner && !a.message) banner.remove();
          out.replaceChildren();
          if (a.message) {
            out.appendChild(text("p", a.message, "error"));
            var input = a.field && document.getElementById(a.field);
            if (input) {
              input.setAttribute("aria-invalid", "true");
              var field = input.closest(".field");
              if (!field.querySelector(".field-error")) field.appendChild(text("p", a.message, "field-error live-error"));
            }
            return;
          }
          if (!a.data || a.data.length === 0) {
            out.appendChild(text("p", "No fires: this draft would be finished.", "muted"));
            return;
          }
          // With a flexible window: an existing scheduler's planned delivery of each fire; a
          // new one's depends on the id it gets when saved, so only the window is known.
          if (a.window > 0 && !a.data[0].deliver_at) {
            out.appendChild(text("p", "Delivery of each fire is spread over the " + a.window +
              "-minute window after it; the exact instant is fixed when the scheduler is saved.",
              "muted note"));
          }
          var ol = document.createElement("ol");
          ol.id = "preview-list";
          a.data.forEach(function (t) {
            var li = text("li", t.local);
            li.appendChild(document.createElement("br"));
            li.appendChild(text("span", t.utc, "muted"));
            if (t.deliver_at) {
              var p = text("span", "delivery planned ", "planned");
              p.appendChild(text("strong", t.deliver_offset));
              p.appendChild(document.createTextNode(", at "));
              var time = text("time", t.deliver_clock);
              time.setAttribute("datetime", t.deliver_at);
              p.appendChild(time);
              li.appendChild(document.createElement("br"));
              li.appendChild(p);
            }
            ol.appendChild(li);
          });
          out.appendChild(ol);
        })
        .catch(function () {});
    };
    // A schedule expression stands instead of the frequency fields and decides the kind: they
    // are disabled while it is given (the server does not send them either).
    var expression = document.getElementById("schedule_expression");
    var replaced = ["type", "trigger_frequency_unit", "trigger_frequency_value", "cron_expression",
      "trigger_time", "triger_month_and_day"];
    var sync = function () {
      if (!expression) return;
      var given = expression.value.trim() !== "";
      replaced.forEach(function (id) {
        var e = document.getElementById(id);
        if (!e) return;
        e.disabled = given;
        e.closest(".field").classList.toggle("replaced", given);
      });
      var kind = document.getElementById("type");
      if (given && kind) kind.value = /^at\(/.test(expression.value.trim()) ? "non_recurring" : "recurring";
    };
    sync();
    if (expression) expression.addEventListener("input", sync);
    form.addEventListener("input", function () { clearTimeout(timer); timer = setTimeout(refresh, 300); });
    form.addEventListener("change", function () { clearTimeout(timer); timer = setTimeout(refresh, 100); });
    refresh();
  }

  // Regions that update themselves: replaced by the server's fresh rendering of them, unless
  // the user is working inside one (focus there), so keyboard use is never interrupted.
  document.querySelectorAll("[data-refresh]").forEach(function (region) {
    setInterval(function () {
      if (document.hidden || region.contains(document.activeElement)) return;
      fetch(region.dataset.refresh, { credentials: "same-origin" })
        .then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) return;
          var doc = new DOMParser().parseFromString("<div>" + html + "</div>", "text/html");
          region.replaceChildren.apply(region, Array.from(doc.body.firstChild.childNodes));
        })
        .catch(function () {});
    }, region.id === "history" ? 2000 : 5000);
  });

  // The operations chart: delivered per minute and lag p50/p99 over the last hour.
  var chart = document.getElementById("chart");
  if (chart && window.uPlot) {
    var plot = null;
    var draw = function () {
      fetch(chart.dataset.stats, { credentials: "same-origin" })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          var end = Math.floor(Date.parse(s.now) / 60000) * 60;
          var xs = [], n = [], p50 = [], p99 = [];
          var by = {};
          s.minutes.forEach(function (m) { by[Math.floor(Date.parse(m.minute) / 1000)] = m; });
          for (var t = end - 59 * 60; t <= end; t += 60) {
            var m = by[t];
            xs.push(t); n.push(m ? m.delivered : 0);
            p50.push(m ? m.lag_p50_ms : null); p99.push(m ? m.lag_p99_ms : null);
          }
          var data = [xs, n, p50, p99];
          var width = Math.max(280, chart.clientWidth - 16);
          if (plot) { plot.setData(data); plot.setSize({ width: width, height: 300 }); return; }
          plot = new uPlot({
            width: width, height: 300,
            scales: { x: { time: true }, n: {}, ms: {} },
            axes: [{}, { scale: "n", label: "fires / min" }, { scale: "ms", side: 1, label: "lag ms", grid: { show: false } }],
            series: [
              {},
              { label: "delivered", scale: "n", stroke: "#1f5fbf", fill: "rgba(31,95,191,0.25)", paths: uPlot.paths.bars({ size: [0.8, 40] }) },
              { label: "lag p50 ms", scale: "ms", stroke: "#1e7b3a", width: 2 },
              { label: "lag p99 ms", scale: "ms", stroke: "#b3261e", width: 2 },
            ],
          }, data, chart);
        })
        .catch(function () {});
    };
    draw();
    setInterval(function () { if (!document.hidden) draw(); }, 5000);
  }
})();
