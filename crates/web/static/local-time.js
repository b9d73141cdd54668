// Each <time datetime="…Z"> shows UTC; its tooltip gives the reader's local time.
document.querySelectorAll("time[datetime]").forEach(function (t) {
  var d = new Date(t.getAttribute("datetime"));
  if (!isNaN(d)) { t.title = d.toLocaleString() + " (local time)"; }
});
