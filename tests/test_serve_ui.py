"""The preview pages under /ui/: the session gate, what files are served, and (in
headless Chromium) the gallery and the seek bar's WebVTT thumbnails."""

from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("starlette")
httpx = pytest.importorskip("httpx")

from stillframe.jobs import JobService  # noqa: E402
from stillframe.jobs import store as t  # noqa: E402
from stillframe.jobs.config import SnapshotConfig  # noqa: E402
from stillframe.sampling import Interval  # noqa: E402
from stillframe.server.app import serving  # noqa: E402
from stillframe.server.buckets import Buckets, parse_bucket  # noqa: E402
from stillframe.server.context import ServerContext  # noqa: E402
from stillframe.server.ui import COOKIE, _vtt_for_browser  # noqa: E402
from stillframe.sprites import Sprite  # noqa: E402

AK, SK = "AKUI0001", "s3cret-of-the-preview"
CELL = (80, 60)  # sprite cell size: the clip is 4:3


@pytest.fixture(scope="module")
def served(clips, tmp_path_factory):
    """A server over a service holding one finished WebVtt job with sprite sheets, and
    a live job that is not capturing (its stream is down)."""
    root = tmp_path_factory.mktemp("ui")
    clip = clips("ui.mp4", frames=60, size=(320, 240), gop=10)
    with JobService(root / "jobs.db", workers=1, stream_timeout=1) as svc:
        cfg = SnapshotConfig(
            sampling=Interval(0.25),
            type="WebVtt",
            is_spt_frag=True,
            sprite=Sprite(columns=4, lines=1),
            width=CELL[0],
            height=CELL[1],
        )
        job = svc.wait(svc.submit_snapshot_job(str(clip), str(root / "out" / "track.vtt"), cfg).id, timeout=60)
        assert job.status == "Success", job.message
        (root / "out" / "not-listed.jpg").write_bytes(b"\xff\xd8 a file beside the job's own")
        tid = svc.create_live_snapshot_template("every 5 s", 5)
        live = svc.submit_live_snapshot_job(
            "cam",
            {"Url": "rtmp://127.0.0.1:9/none", "Type": "rtmp"},
            tid,
            {"StorageType": "local", "Bucket": str(root / "live")},
        )
        buckets = served_buckets(root, Path(clip))
        ctx = ServerContext(service=svc, keys={AK: SK}, buckets=buckets)
        with serving(ctx) as base:
            yield {
                "base": base,
                "job": job,
                "live": live,
                "clip": Path(clip),
                "root": root,
                "svc": svc,
                "buckets": buckets,
            }


def served_buckets(root: Path, clip: Path) -> Buckets:
    """The folders the pages may read from: the jobs' outputs and the clip's."""
    return Buckets([parse_bucket(f"out={root}"), parse_bucket(f"media={clip.parent}")])


def client(base: str) -> httpx.Client:
    return httpx.Client(base_url=base, follow_redirects=False, timeout=30)


def form_token(c: httpx.Client, path: str = "/ui/signin") -> str:
    """The hidden `csrf` field of the form on `path` (the sign-in form's pairs with a cookie)."""
    found = re.search(r'name="csrf" value="([^"]*)"', c.get(path).text)
    return found.group(1) if found else ""


def sign_in(c: httpx.Client, ak: str = AK, sk: str = SK, next_url: str = "/ui/jobs", **extra) -> httpx.Response:
    """The sign-in form, fetched then sent as a browser of this site would."""
    data = {"access_key_id": ak, "access_key_secret": sk, "next": next_url, "csrf": form_token(c), **extra}
    return c.post("/ui/signin", data=data)


@contextlib.contextmanager
def signed_in(base: str) -> Iterator[httpx.Client]:
    with client(base) as c:
        r = sign_in(c)
        assert r.status_code == 303 and r.headers["location"] == "/ui/jobs"
        yield c


def pages(s) -> list[str]:
    return [
        "/ui/",
        "/ui/jobs",
        "/ui/jobs?status=Success",
        f"/ui/jobs/{s['job'].id}",
        "/ui/live",
        f"/ui/live/{s['live'].id}",
    ]


def data_routes(s) -> list[str]:
    j = s["job"].id
    return [
        f"/ui/data/jobs/{j}/snapshot/0",
        f"/ui/data/jobs/{j}/sprite/0",
        f"/ui/data/jobs/{j}/vtt/0",
        f"/ui/data/jobs/{j}/input/0",
        f"/ui/data/live/{s['live'].id}/latest",
        "/ui/data/anything",
    ]


def test_without_a_session_pages_redirect_and_files_are_401(served):
    with client(served["base"]) as c:
        for path in pages(served):
            r = c.get(path)
            if path == "/ui/":
                assert r.status_code == 303
                continue
            assert r.status_code == 303, path
            assert r.headers["location"].startswith("/ui/signin?next="), path
        for path in data_routes(served):
            assert c.get(path).status_code == 401, path
        assert c.post("/ui/signout").status_code == 303
        r = c.get("/ui/signin")
        assert r.status_code == 200 and 'name="access_key_secret"' in r.text


def test_sign_in(served):
    with client(served["base"]) as c:
        for ak, sk in [(AK, "wrong"), ("nobody", SK), (AK, ""), ("", "")]:
            r = sign_in(c, ak, sk)
            assert r.status_code in (401, 400) and COOKIE not in r.cookies
        assert c.get("/ui/jobs").status_code == 303
        target = f"/ui/jobs/{served['job'].id}"
        r = sign_in(c, next_url=target)
        assert r.status_code == 303 and r.headers["location"] == target
        cookie = r.headers["set-cookie"].lower()
        for attr in ("httponly", "samesite=strict", "path=/ui", f"max-age={8 * 3600}"):
            assert attr in cookie, cookie
        for path in pages(served)[1:]:
            r = c.get(path)
            assert r.status_code == 200, path
            assert "script-src 'nonce-" in r.headers["content-security-policy"]
            assert "x-request-id" in r.headers  # the app's middleware wraps the pages
        assert AK in c.get("/ui/jobs").text
        # No redirect off the site after signing in.
        r = sign_in(c, next_url="//evil.example/x")
        assert r.headers["location"] == "/ui/jobs"
        c.post("/ui/signout", data={"csrf": form_token(c, "/ui/jobs")})
        assert c.get("/ui/jobs").status_code == 303


def test_pages_list_and_show_the_job(served):
    job = served["job"]
    with signed_in(served["base"]) as c:
        listing = c.get("/ui/jobs").text
        assert f"/ui/jobs/{job.id}" in listing
        assert job.id not in c.get("/ui/jobs?status=Fail").text
        assert c.get("/ui/jobs?status=Nope").status_code == 400
        assert c.get("/ui/jobs?token=forged.token").status_code == 400
        page = c.get(f"/ui/jobs/{job.id}").text
        n, sheets = len(job.result["files"]), len(job.result["sprites"])
        assert n == 8 and sheets == 2
        for i in range(n):
            assert f"/ui/data/jobs/{job.id}/snapshot/{i}" in page
        assert f"/ui/data/jobs/{job.id}/sprite/1" in page and 'id="seekbar"' in page
        assert c.get("/ui/jobs/" + "0" * 32).status_code == 404
        assert "cam" in c.get("/ui/live").text


def test_job_list_pages(served, tmp_path):
    svc, clip = served["svc"], str(served["clip"])
    made = [svc.submit_snapshot_job(clip, str(tmp_path / f"{i}.jpg"), {"Time": 0}) for i in range(2)]
    assert all(j.status == "Success" for j in made)  # one snapshot: the job runs at once
    expected = [j.id for j in svc.list_snapshot_jobs(status="Success", page_size=100).jobs]
    assert len(expected) >= 3
    seen, url = [], "/ui/jobs?status=Success&size=1"
    with signed_in(served["base"]) as c:
        while url:
            page = c.get(url)
            assert page.status_code == 200
            seen += re.findall(r'<a href="/ui/jobs/([0-9a-f]{32})">', page.text)
            nxt = re.search(r'<a id="next" href="([^"]+)"', page.text)
            url = html.unescape(nxt.group(1)) if nxt else ""
            assert not url or ("status=Success" in url and "size=1" in url)
        assert seen == expected
        token = re.search(r"token=([^&\"]+)", c.get("/ui/jobs?status=Success&size=1").text).group(1)
        assert c.get(f"/ui/jobs?status=Fail&size=1&token={token}").status_code == 400  # another query's token
        assert c.get("/ui/jobs?size=0").status_code == 400 and c.get("/ui/jobs?size=x").status_code == 400


def test_tampered_and_expired_sessions_are_refused(served):
    base = served["base"]
    with signed_in(base) as c:
        good = c.cookies[COOKIE]
    body = good[:-1] + ("A" if good[-1] != "A" else "B")
    path = f"/ui/jobs/{served['job'].id}"
    for token, ok in [(good, True), (body, False), ("", False), ("x" * 4000, False)]:
        with client(base) as c:
            c.cookies.set(COOKIE, token, path="/ui")
            assert c.get(path).status_code == (200 if ok else 303), token[:20]
            assert c.get(f"/ui/data/jobs/{served['job'].id}/snapshot/0").status_code == (200 if ok else 401)
    # A session past its time is over, whatever its cookie says.
    engine = served["svc"].engine
    with engine.begin() as conn:
        conn.execute(t.ui_sessions.update().values(expire_time=time.time() - 1))
    with client(base) as c:
        c.cookies.set(COOKIE, good, path="/ui")
        assert c.get(path).status_code == 303


def test_only_the_jobs_own_files_are_served(served):
    job = served["job"]
    j = job.id
    with signed_in(served["base"]) as c:
        r = c.get(f"/ui/data/jobs/{j}/snapshot/0")
        assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
        assert r.content == Path(job.result["files"][0]).read_bytes()
        assert c.get(f"/ui/data/jobs/{j}/sprite/1").content == Path(job.result["sprites"][1]).read_bytes()
        for path in [
            f"/ui/data/jobs/{j}/snapshot/8",
            f"/ui/data/jobs/{j}/snapshot/-1",
            f"/ui/data/jobs/{j}/cover/0",
            f"/ui/data/jobs/{j}/not-listed.jpg/0",
            f"/ui/data/jobs/{j}/snapshot/..%2f..%2fjobs.db",
            f"/ui/data/jobs/{j}/../../../etc/passwd",
            f"/ui/data/jobs/{'0' * 32}/snapshot/0",
            "/ui/data/jobs/..%2f..%2fetc%2fpasswd/snapshot/0",
        ]:
            r = c.get(path)
            assert r.status_code == 404, path
            assert b"a file beside" not in r.content
        # The track points at preview URLs of this job's sheets only.
        vtt = c.get(f"/ui/data/jobs/{j}/vtt/0")
        assert vtt.status_code == 200 and vtt.headers["content-type"].startswith("text/vtt")
        refs = [ln for ln in vtt.text.splitlines() if ln.startswith("/")]
        assert len(refs) == 8
        assert all(re.fullmatch(rf"/ui/data/jobs/{j}/sprite/[01]#xywh=\d+,\d+,80,60", r) for r in refs), refs


def test_a_track_naming_other_files_loses_those_cues(tmp_path):
    (tmp_path / "s.jpg").write_bytes(b"x")
    vtt = tmp_path / "t.vtt"
    vtt.write_text(
        "WEBVTT\n\n00:00:00.000 --> 00:00:01.000\ns.jpg#xywh=0,0,8,8\n\n"
        "00:00:01.000 --> 00:00:02.000\n../../etc/passwd\n/etc/shadow\n\n00:00:02.000 --> 00:00:03.000\nhttp://x/s.jpg\n"
    )
    files = {"sprite": [str(tmp_path / "s.jpg")], "snapshot": []}
    out = _vtt_for_browser(str(vtt), files, lambda kind, i: f"/u/{kind}/{i}")
    assert "/u/sprite/0#xywh=0,0,8,8" in out and "/etc/" not in out and "http://" not in out
    assert out.count("-->") == 3


def test_range_requests_on_the_input_video(served):
    data = served["clip"].read_bytes()
    url = f"/ui/data/jobs/{served['job'].id}/input/0"
    with signed_in(served["base"]) as c:
        r = c.get(url, headers={"Range": "bytes=100-1099"})
        assert r.status_code == 206
        assert r.headers["content-range"] == f"bytes 100-1099/{len(data)}"
        assert r.content == data[100:1100] and r.headers["content-type"] == "video/mp4"
        tail = c.get(url, headers={"Range": "bytes=-10"})
        assert tail.status_code == 206 and tail.content == data[-10:]
        whole = c.get(url)
        assert whole.status_code == 200 and whole.content == data and whole.headers["accept-ranges"] == "bytes"
        assert c.get(url, headers={"Range": f"bytes={len(data) + 10}-"}).status_code == 416


def test_live_latest_snapshot(served):
    live = served["live"]
    latest = f"/ui/data/live/{live.id}/latest"
    path = served["root"] / "live" / "snapshot" / f"{live.id}.jpg"
    path.unlink(missing_ok=True)
    with signed_in(served["base"]) as c:
        assert c.get(latest).status_code == 404
        page = c.get(f"/ui/live/{live.id}").text
        assert latest in page and "setInterval" in page
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"\xff\xd8 the latest")
        r = c.get(latest)
        assert r.status_code == 200 and r.content == b"\xff\xd8 the latest"
        assert r.headers["cache-control"] == "no-store"
        assert c.get(f"/ui/data/live/{'0' * 32}/latest").status_code == 404


def test_insecure_mode_needs_no_sign_in(served):
    ctx = ServerContext(service=served["svc"], keys={}, insecure=True, buckets=served["buckets"])
    with serving(ctx) as base, client(base) as c:
        assert c.get(f"/ui/jobs/{served['job'].id}").status_code == 200
        assert c.get(f"/ui/data/jobs/{served['job'].id}/snapshot/0").status_code == 200
        assert c.get("/ui/signin").status_code == 303


def test_the_input_is_served_only_from_a_served_bucket(served, tmp_path):
    url = f"/ui/data/jobs/{served['job'].id}/input/0"
    clip_dir = str(served["clip"].parent)
    for buckets, status in [
        ([], 404),
        ([parse_bucket(f"other={tmp_path}")], 404),
        ([parse_bucket(f"media={clip_dir}")], 200),
    ]:
        ctx = ServerContext(service=served["svc"], keys={}, insecure=True, buckets=Buckets(buckets))
        with serving(ctx) as base, client(base) as c:
            assert c.get(url).status_code == status, buckets
            assert ('id="player"' in c.get(f"/ui/jobs/{served['job'].id}").text) == (status == 200)


# -- in a browser ---------------------------------------------------------------------

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@pytest.fixture
def browser():
    webdriver = pytest.importorskip("selenium.webdriver")
    binary = os.environ.get("STILLFRAME_CHROMIUM", CHROMIUM)
    driver_path = os.environ.get("STILLFRAME_CHROMEDRIVER", CHROMEDRIVER)
    if not (os.path.exists(binary) or shutil.which(binary)) or not (
        os.path.exists(driver_path) or shutil.which(driver_path)
    ):
        pytest.skip(f"headless Chromium needs {binary} and {driver_path}")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--window-size=1280,1000",
        "--mute-audio",
    ):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(driver_path), options=options)
    driver.set_page_load_timeout(30)
    try:
        yield driver
    finally:
        driver.quit()


def artifacts(tmp_path: Path) -> Path:
    named = os.environ.get("STILLFRAME_ARTIFACTS")
    folder = Path(named) if named else tmp_path
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def cues_of(vtt: str) -> list[tuple[float, float, str]]:
    def seconds(s: str) -> float:
        h, m, rest = s.split(":")
        return int(h) * 3600 + int(m) * 60 + float(rest)

    lines = vtt.splitlines()
    return [
        (seconds(ln.split(" --> ")[0]), seconds(ln.split(" --> ")[1].split()[0]), lines[i + 1])
        for i, ln in enumerate(lines)
        if " --> " in ln
    ]


@pytest.mark.browser
def test_in_a_browser(served, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    base, job = served["base"], served["job"]
    wait = WebDriverWait(browser, 20)
    # Not signed in: the job page sends the browser to sign in, and shows nothing of the job.
    browser.get(f"{base}/ui/jobs/{job.id}")
    assert "/ui/signin" in browser.current_url
    assert not browser.find_elements(By.ID, "gallery")
    browser.find_element(By.ID, "access_key_id").send_keys(AK)
    browser.find_element(By.ID, "access_key_secret").send_keys("wrong")
    browser.find_element(By.ID, "signin").click()
    wait.until(lambda d: d.find_elements(By.ID, "error"))
    browser.find_element(By.ID, "access_key_id").send_keys(AK)
    browser.find_element(By.ID, "access_key_secret").send_keys(SK)
    browser.find_element(By.ID, "signin").click()
    wait.until(lambda d: d.current_url.endswith(f"/ui/jobs/{job.id}"))
    assert all(c["httpOnly"] for c in browser.get_cookies() if c["name"] == COOKIE)

    # The gallery and the sheets load.
    browser.execute_script("document.getElementById('gallery').scrollIntoView()")
    loaded = "return [...document.querySelectorAll('#gallery img, #sheets img')].map(i => i.complete && i.naturalWidth)"
    wait.until(lambda d: all(d.execute_script(loaded)))
    widths = browser.execute_script(loaded)
    assert len(widths) == 10 and widths[:8] == [CELL[0]] * 8

    # Hovering the seek bar at 30% shows the cue at 30% of the clip, cut from its sheet.
    bar = browser.find_element(By.ID, "seekbar")
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", bar)
    wait.until(lambda d: int(bar.get_attribute("data-cues") or 0) > 0)
    width = bar.size["width"]
    ActionChains(browser).move_to_element_with_offset(bar, int(width * 0.3 - width / 2), 0).perform()
    thumb = browser.find_element(By.ID, "thumb")
    wait.until(lambda d: thumb.is_displayed())
    t = float(thumb.get_attribute("data-time"))
    duration = 2.0  # 60 frames at 30 fps
    assert abs(t - 0.3 * duration) < 0.05, t
    with signed_in(base) as c:
        cues = cues_of(c.get(f"/ui/data/jobs/{job.id}/vtt/0").text)
    ref = next(ref for start, end, ref in cues if start <= t < end)
    url, frag = ref.split("#")
    x, y, w, h = map(int, frag[len("xywh=") :].split(","))
    style = browser.execute_script(
        "const s = arguments[0].style; return [s.backgroundImage, s.backgroundPosition, s.width, s.height]", thumb
    )
    assert url in style[0] and style[1] == f"{-x}px {-y}px" and style[2:] == [f"{w}px", f"{h}px"]
    assert thumb.get_attribute("data-cue") == ref
    # The sheet the cue names is one the page shows loaded.
    assert browser.execute_script(
        f"return [...document.querySelectorAll('#sheets img')].some(i => i.src.endsWith({url!r}) && i.naturalWidth > 0)"
    )

    shot = artifacts(tmp_path) / "ui-job-seekbar.png"
    assert browser.save_screenshot(str(shot))
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # A live job's page shows its overwrite snapshot and reloads it.
    live = served["live"]
    latest = served["root"] / "live" / "snapshot" / f"{live.id}.jpg"
    latest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(job.result["files"][0], latest)
    browser.get(f"{base}/ui/live/{live.id}")
    img = browser.find_element(By.ID, "latest")
    wait.until(lambda d: d.execute_script("return arguments[0].complete && arguments[0].naturalWidth", img))
    first = img.get_attribute("src")
    assert f"/ui/data/live/{live.id}/latest?t=" in first
    WebDriverWait(browser, 10).until(lambda d: img.get_attribute("src") != first)

    # Signed out, the page is out of reach again.
    browser.find_element(By.CSS_SELECTOR, "header form button").click()
    wait.until(lambda d: "/ui/signin" in d.current_url)
    browser.get(f"{base}/ui/jobs/{job.id}")
    assert "/ui/signin" in browser.current_url and not browser.find_elements(By.ID, "gallery")
