"""The preview pages' HTML: a shared layout, a little CSS and JavaScript, and one
function a page. Every value from a job is escaped here; scripts and styles carry
the response's CSP nonce, so nothing else inline can run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from html import escape
from typing import Any
from urllib.parse import urlencode

from stillframe.jobs.model import STATUSES, SnapshotJob, iso

CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:0;color:#222;background:#fafafa}
header{display:flex;gap:1.2em;align-items:center;padding:.6em 1.2em;background:#263238;color:#fff}
header a{color:#fff;text-decoration:none}header .who{margin-left:auto;opacity:.8}
header form{margin:0}main{padding:1em 1.2em;max-width:1100px}
.details th{width:9em}.player video{max-height:60vh}
table{border-collapse:collapse;width:100%;background:#fff}td,th{padding:.35em .6em;border-bottom:1px solid #ddd;
text-align:left}th{background:#eceff1}code{font-size:12px;word-break:break-all}
.error{color:#b00020}.muted{color:#777}.status-Success{color:#2e7d32}.status-Fail{color:#b00020}
.gallery{display:flex;flex-wrap:wrap;gap:8px}.gallery figure{margin:0;background:#fff;padding:4px;
border:1px solid #ddd}.gallery img{display:block;max-width:200px;max-height:150px}
.gallery figcaption{font-size:11px;color:#555}.sheets img{max-width:100%;border:1px solid #ddd}
.player{position:relative;max-width:720px}.player video{width:100%;background:#000;display:block}
#seekbar{position:relative;height:14px;background:#cfd8dc;cursor:pointer;margin-top:6px}
#progress{position:absolute;left:0;top:0;bottom:0;width:0;background:#546e7a}
#thumb{position:absolute;bottom:22px;border:2px solid #fff;box-shadow:0 1px 4px #0008;
background-repeat:no-repeat;background-color:#000;pointer-events:none}
#thumb span{position:absolute;bottom:0;left:0;font-size:11px;background:#000a;color:#fff;padding:0 3px}
[hidden]{display:none!important}form.signin{display:grid;gap:.6em;max-width:340px}
form.signin input{padding:.4em}.pager{margin-top:1em;display:flex;gap:1em}
"""

# Hover thumbnails from the job's WebVTT track. The server has rewritten each cue's
# image to a preview URL; `#xywh=x,y,w,h` picks one cell of a sprite sheet.
PLAYER_JS = """
(function () {
  const bar = document.getElementById('seekbar'), thumb = document.getElementById('thumb');
  const video = document.getElementById('player'), progress = document.getElementById('progress');
  const label = thumb.querySelector('span');
  let cues = [];
  const seconds = s => s.split(':').reduce((acc, part) => acc * 60 + Number(part), 0);
  fetch(bar.dataset.vtt, {credentials: 'same-origin'}).then(r => r.ok ? r.text() : '').then(text => {
    for (const block of text.replace(/\\r/g, '').split(/\\n\\n+/)) {
      const lines = block.split('\\n');
      const i = lines.findIndex(l => l.includes('-->'));
      if (i < 0 || !(lines[i + 1] || '').trim()) continue;
      const [a, b] = lines[i].split('-->').map(s => seconds(s.trim().split(/\\s+/)[0]));
      cues.push({start: a, end: b, ref: lines[i + 1].trim()});
    }
    bar.dataset.cues = String(cues.length);
  });
  const duration = () => (isFinite(video.duration) && video.duration > 0) ? video.duration
    : (cues.length ? cues[cues.length - 1].end : 0);
  const cueAt = t => cues.find(c => t >= c.start && t < c.end) || (t > 0 ? cues[cues.length - 1] : cues[0]);
  const timeAt = e => {
    const r = bar.getBoundingClientRect();
    return Math.min(Math.max((e.clientX - r.left) / r.width, 0), 1) * duration();
  };
  bar.addEventListener('mousemove', e => {
    const t = timeAt(e), c = cues.length ? cueAt(t) : null;
    if (!c) { thumb.hidden = true; return; }
    const [url, frag] = c.ref.split('#');
    const m = /xywh=(\\d+),(\\d+),(\\d+),(\\d+)/.exec(frag || '');
    const w = m ? Number(m[3]) : 160, h = m ? Number(m[4]) : 90;
    Object.assign(thumb.style, {
      backgroundImage: 'url("' + url + '")', width: w + 'px', height: h + 'px',
      backgroundPosition: m ? -m[1] + 'px ' + -m[2] + 'px' : 'center',
      backgroundSize: m ? 'auto' : 'contain',
      left: Math.min(Math.max(e.clientX - bar.getBoundingClientRect().left - w / 2, 0), bar.clientWidth - w) + 'px',
    });
    thumb.dataset.time = t.toFixed(3);
    thumb.dataset.cue = c.ref;
    label.textContent = t.toFixed(2) + ' s';
    thumb.hidden = false;
  });
  bar.addEventListener('mouseleave', () => { thumb.hidden = true; });
  bar.addEventListener('click', e => { video.currentTime = timeAt(e); });
  video.addEventListener('timeupdate', () => {
    const d = duration();
    progress.style.width = (d ? 100 * video.currentTime / d : 0) + '%';
  });
})();
"""

# The overwrite snapshot is replaced in place: reload it with a cache-buster.
LIVE_JS = """
(function () {
  const img = document.getElementById('latest'), note = document.getElementById('latest-note');
  const base = img.dataset.src, every = Number(img.dataset.every) * 1000;
  img.addEventListener('load', () => { note.hidden = true; img.hidden = false; });
  img.addEventListener('error', () => { note.hidden = false; img.hidden = true; });
  const reload = () => { img.src = base + '?t=' + Date.now(); };
  reload();
  setInterval(reload, every);
})();
"""


def page(
    title: str, body: str, nonce: str, base: str, who: str | None, script: str = "", *, csrf: str | None = None
) -> str:
    """The layout. `who`: the signed-in access key id ("" when sign-in is off, None
    on the sign-in page itself); `csrf`: the session's token the sign-out form sends."""
    nav = ""
    if who is not None:
        out = ""
        if who:
            out = (
                f'<span class="who">{escape(who)}</span><form method="post" action="{escape(base)}/signout">'
                f'<input type="hidden" name="csrf" value="{escape(csrf or "")}">'
                '<button type="submit" id="signout">Sign out</button></form>'
            )
        nav = f'<a href="{escape(base)}/jobs">Jobs</a><a href="{escape(base)}/live">Live jobs</a>{out}'
    js = f'<script nonce="{nonce}">{script}</script>' if script else ""
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)} · stillframe</title>'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><style nonce="{nonce}">{CSS}</style>'
        f"</head><body><header><strong>stillframe</strong>{nav}</header><main><h1>{escape(title)}</h1>{body}</main>"
        f"{js}</body></html>"
    )


def signin_form(base: str, next_url: str, error: str | None, csrf: str) -> str:
    """`csrf`: the token the form sends back, matched with the cookie set beside it."""
    err = f'<p class="error" id="error">{escape(error)}</p>' if error else ""
    return (
        f'{err}<form class="signin" method="post" action="{escape(base)}/signin">'
        f'<input type="hidden" name="next" value="{escape(next_url)}">'
        f'<input type="hidden" name="csrf" value="{escape(csrf)}">'
        '<label>Access key id<br><input name="access_key_id" id="access_key_id" autocomplete="username" required>'
        '</label><label>Access key secret<br><input name="access_key_secret" id="access_key_secret" '
        'type="password" autocomplete="current-password" required></label>'
        '<button type="submit" id="signin">Sign in</button></form>'
    )


def _row(cells: Iterable[str]) -> str:
    return "<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>"


def _status(status: str) -> str:
    return f'<span class="status-{escape(status)}">{escape(status)}</span>'


def job_list(base: str, jobs: Sequence[SnapshotJob], query: Mapping[str, str], next_token: str | None) -> str:
    """`query`: the listing's filter (status, size), kept by the pager's links."""
    status = query.get("status")
    options = "".join(
        f'<option value="{s}"{" selected" if s == (status or "") else ""}>{s or "any"}</option>'
        for s in ("", *STATUSES)
    )
    form = (
        f'<form method="get" action="{escape(base)}/jobs">Status <select name="status" id="status">{options}</select> '
        + (f'<input type="hidden" name="size" value="{escape(query["size"])}">' if "size" in query else "")
        + '<button type="submit">Filter</button></form>'
    )
    rows = "".join(
        _row(
            [
                f'<a href="{escape(base)}/jobs/{escape(j.id)}"><code>{escape(j.id)}</code></a>',
                escape(j.name or ""),
                escape(j.type),
                _status(j.status),
                escape(iso(j.create_time) or ""),
                escape(str(j.count if j.count is not None else "")),
            ]
        )
        for j in jobs
    )
    table = (
        "<table><thead><tr><th>Job</th><th>Name</th><th>Type</th><th>Status</th><th>Created</th><th>Count</th>"
        f'</tr></thead><tbody id="jobs">{rows}</tbody></table>'
        if jobs
        else '<p class="muted">No jobs.</p>'
    )
    pager = f'<a href="{escape(base)}/jobs?{escape(urlencode(query))}">First page</a>'
    if next_token:
        pager += f'<a id="next" href="{escape(base)}/jobs?{escape(urlencode({**query, "token": next_token}))}">Next</a>'
    return f'{form}{table}<div class="pager">{pager}</div>'


def _details(fields: Mapping[str, Any]) -> str:
    rows = "".join(
        f"<tr><th>{escape(k)}</th><td>{escape(v if isinstance(v, str) else json.dumps(v))}</td></tr>"
        for k, v in fields.items()
        if v not in (None, "", {})
    )
    return f'<table class="details">{rows}</table>'


def job_page(
    job: SnapshotJob, urls: Mapping[str, Any], times: Sequence[float], shown: int, named: Mapping[str, Any]
) -> str:
    """`urls`: preview URLs of the job's files ({"snapshots": [...], "sprites": [...],
    "cover": str|None, "vtt": str|None, "input": str|None}); `shown`: how many
    snapshots the gallery shows; `named`: Input, Output and Message as the caller
    names files (never server paths)."""
    d = job.to_dict()
    parts = [
        _details(
            {k: d[k] for k in ("JobId", "Name", "Type", "Status", "Code", "CreateTime", "FinishTime")}
            | {
                "Message": named.get("Message"),
                "Input": named.get("Input"),
                "Output": named.get("Output"),
                "Count": d["Count"],
            }
        )
    ]
    if urls.get("input") and urls.get("vtt"):
        parts.append(
            '<h2>Input</h2><div class="player">'
            f'<video id="player" controls preload="metadata" src="{escape(urls["input"])}"></video>'
            f'<div id="seekbar" data-vtt="{escape(urls["vtt"])}"><div id="progress"></div>'
            '<div id="thumb" hidden><span></span></div></div></div>'
            '<p class="muted">Hover the bar under the player for the thumbnail track.</p>'
        )
    elif urls.get("input"):
        parts.append(
            f'<h2>Input</h2><div class="player"><video id="player" controls preload="metadata" '
            f'src="{escape(urls["input"])}"></video></div>'
        )
    if urls.get("vtt"):
        parts.append(f'<p><a id="vtt" href="{escape(urls["vtt"])}">WebVTT thumbnail track</a></p>')
    snaps = urls.get("snapshots") or []
    if snaps:
        figs = []
        for i, u in enumerate(snaps[:shown]):
            when = f" · {times[i]:.3f} s" if i < len(times) else ""
            figs.append(
                f'<figure><a href="{escape(u)}"><img src="{escape(u)}" loading="lazy" alt="snapshot {i + 1}"></a>'
                f"<figcaption>#{i + 1}{when}</figcaption></figure>"
            )
        more = f'<p class="muted">{len(snaps) - shown} more not shown.</p>' if len(snaps) > shown else ""
        parts.append(f'<h2>Snapshots ({len(snaps)})</h2><div class="gallery" id="gallery">{"".join(figs)}</div>{more}')
    sheets = urls.get("sprites") or []
    if sheets:
        imgs = "".join(f'<p><img src="{escape(u)}" alt="sprite sheet {i + 1}"></p>' for i, u in enumerate(sheets))
        parts.append(f'<h2>Sprite sheets ({len(sheets)})</h2><div class="sheets" id="sheets">{imgs}</div>')
    if urls.get("cover"):
        parts.append(f'<h2>Cover</h2><div class="gallery"><img src="{escape(urls["cover"])}" alt="cover"></div>')
    if job.finished and not (snaps or sheets or urls.get("vtt")):
        parts.append('<p class="muted">No files of this job can be previewed here.</p>')
    return "".join(parts)


def live_list(base: str, listing: Mapping[str, Any], status: str | None, statuses: Sequence[str]) -> str:
    options = "".join(
        f'<option value="{s}"{" selected" if s == (status or "") else ""}>{s or "any"}</option>'
        for s in ("", *statuses)
    )
    form = (
        f'<form method="get" action="{escape(base)}/live">Status <select name="status">{options}</select> '
        '<button type="submit">Filter</button></form><p class="muted">Jobs created in the last 30 days.</p>'
    )
    jobs = listing["JobList"]
    rows = "".join(
        _row(
            [
                f'<a href="{escape(base)}/live/{escape(j["JobId"])}"><code>{escape(j["JobId"])}</code></a>',
                escape(j["JobName"]),
                escape(j["Status"]),
                escape(j["StreamInput"]["Url"]),
                escape(str(j["TimeInterval"])),
                escape(j["CreateTime"] or ""),
            ]
        )
        for j in jobs
    )
    table = (
        "<table><thead><tr><th>Job</th><th>Name</th><th>Status</th><th>Stream</th><th>Every (s)</th>"
        f'<th>Created</th></tr></thead><tbody id="live-jobs">{rows}</tbody></table>'
        if jobs
        else '<p class="muted">No live jobs.</p>'
    )
    page_no, size, total = listing["PageNo"], listing["PageSize"], listing["TotalCount"]
    query = {"status": status} if status else {}
    pager = []
    if page_no > 1:
        pager.append(f'<a href="{escape(base)}/live?{escape(urlencode({**query, "page": page_no - 1}))}">Previous</a>')
    if page_no * size < total:
        pager.append(f'<a href="{escape(base)}/live?{escape(urlencode({**query, "page": page_no + 1}))}">Next</a>')
    return f'{form}{table}<div class="pager">{"".join(pager)}</div>'


def live_page(job: Mapping[str, Any], latest_url: str | None, every: int) -> str:
    details = _details(
        {
            k: job[k]
            for k in (
                "JobId",
                "JobName",
                "Status",
                "TemplateName",
                "TimeInterval",
                "OverwriteFormat",
                "SequenceFormat",
                "CreateTime",
                "LastModified",
            )
        }
        | {"Stream": job["StreamInput"]["Url"], "Output": job["SnapshotOutput"]}
    )
    if latest_url is None:
        return details + '<p class="muted">This job writes to object storage: its snapshots are not previewed.</p>'
    return (
        f'{details}<h2>Latest snapshot</h2><p id="latest-note" class="muted" hidden>No snapshot yet.</p>'
        f'<img id="latest" alt="latest snapshot" hidden data-src="{escape(latest_url)}" data-every="{int(every)}">'
    )


def message(text: str) -> str:
    return f'<p class="error">{escape(text)}</p>'
