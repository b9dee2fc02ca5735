// Browser tests of the web interface (contract, "Web interface") in Debian's
// Chromium, driven by playwright-core, against the local stack that
// scripts/web-tests.sh starts (the same `avatar-local serve` as `make run`).
//
// Environment: BASE_URL (the gateway), CORPUS_DIR (fixtures/images),
// ARTIFACTS_DIR (screenshots), CHROMIUM (default /usr/bin/chromium).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.BASE_URL;
const CORPUS = process.env.CORPUS_DIR;
const ARTIFACTS = process.env.ARTIFACTS_DIR || "target/web-tests";
assert.ok(BASE && CORPUS, "BASE_URL and CORPUS_DIR must be set (run scripts/web-tests.sh)");
mkdirSync(ARTIFACTS, { recursive: true });

const PHOTO = "j09_photo_eveningglow.jpg"; // 2560x1600 JPEG
const DROPPED = "p10_art_arc_transparent.png"; // 2140x1200 PNG with alpha
// 1.3 MB: over the INLINE_UPLOAD_BYTES (1 MB) scripts/web-tests.sh sets,
// so the page sends it as a direct upload; the two above go inline.
const LARGE = "p08_art_patak_rgba_phone.png";
const TIMEOUT = 30_000;

let browser;

before(async () => {
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
});

/** A fresh page (own storage) that fails the test on any script error or
 *  CSP violation: the pages must run under their strict policy. */
async function newPage(t, options = {}) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, ...options });
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) {
      problems.push(`console: ${m.text()}`);
    }
  });
  t.after(async () => {
    await context.close();
    assert.deepEqual(problems, [], "no script errors or CSP violations");
  });
  return page;
}

/** Opens a page and waits until its script has wired it up. */
async function open(page, path) {
  await page.goto(`${BASE}${path}`);
  await page.locator("html[data-ready]").waitFor({ state: "attached" });
}

function uniqueUser(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

async function api(path, init) {
  return fetch(`${BASE}${path}`, init);
}

async function listAvatars(user) {
  const response = await api(`/api/v1/users/${user}/avatars`);
  assert.equal(response.status, 200);
  return (await response.json()).items;
}

/** Waits until the progress bar shows every byte sent. */
async function expectFullProgress(page, bytes) {
  await page.waitForFunction(() => {
    const p = document.getElementById("progress");
    return !p.closest("[hidden]") && p.max > 0 && p.value === p.max;
  });
  const { value, max, text } = await page.evaluate(() => {
    const p = document.getElementById("progress");
    return { value: p.value, max: p.max, text: document.getElementById("progress-text").textContent };
  });
  assert.ok(max >= bytes, `progress counts the request's bytes (${max} >= ${bytes})`);
  assert.equal(value, max);
  assert.match(text, /\(100%\)$/);
}

async function expectPreview(page) {
  await page.locator("#preview").waitFor({ state: "visible" });
  const width = await page.$eval("#preview-img", async (img) => {
    await img.decode();
    return img.naturalWidth;
  });
  assert.ok(width > 0, "the preview shows the chosen picture");
}

test("upload by file picker, watch it process, see the 300 px thumbnail, delete it", async (t) => {
  const page = await newPage(t);
  const user = uniqueUser("picker");
  // Listening before the page loads turns on Chromium's file chooser
  // interception before the key press that opens it.
  const chooser = page.waitForEvent("filechooser");
  await open(page, "/web/upload");
  await page.fill("#user-id", user);

  // Keyboard: Tab from the user id reaches the drop zone; Enter opens the picker.
  await page.focus("#user-id");
  await page.keyboard.press("Tab");
  assert.equal(await page.evaluate(() => document.activeElement.id), "drop-zone");
  await page.keyboard.press("Enter");
  await (await chooser).setFiles(join(CORPUS, PHOTO));
  await expectPreview(page);
  assert.match(await page.textContent("#preview-info"), /2560×1600/);

  await page.click("#submit");
  await expectFullProgress(page, readFileSync(join(CORPUS, PHOTO)).length);
  await page.locator("#result-link").waitFor();
  assert.equal(await page.getAttribute("#upload-form", "data-upload-path"), "inline");
  await page.screenshot({ path: join(ARTIFACTS, "upload.png"), fullPage: true });
  // The user id is remembered for the next visit.
  assert.equal(await page.evaluate(() => localStorage.getItem("avatars.user_id")), user);

  await page.click("#result-link");
  await page.waitForURL(`${BASE}/web/gallery/${user}`);
  const tile = page.locator(".tile").first();
  const badge = tile.locator(".status-badge");
  // The stack batches upload events for a few seconds (BATCH_WINDOW_SECONDS),
  // so the tile is seen processing, then turns ready by itself.
  await assert.doesNotReject(badge.filter({ hasText: "processing" }).waitFor(), "tile starts processing");
  await badge.filter({ hasText: "ready" }).waitFor({ timeout: TIMEOUT });
  assert.equal(await page.locator(".tile").count(), 1);
  assert.ok(await tile.locator(".current-badge").isVisible(), "the only avatar is current");
  assert.match(await tile.locator(".facts").textContent(), /2560×1600/);

  const img = tile.locator("img");
  await page.waitForFunction(
    (el) => el.complete && el.naturalWidth > 0,
    await img.elementHandle(),
  );
  const natural = await img.evaluate((el) => ({ w: el.naturalWidth, h: el.naturalHeight, src: el.currentSrc }));
  assert.deepEqual([natural.w, natural.h], [300, 300], `a real 300 px thumbnail (${natural.src})`);
  assert.match(natural.src, /size=300x300$/);
  assert.match(await img.getAttribute("srcset"), /100x100 100w.*300x300 300w.*1200x1200 1200w/);
  await page.screenshot({ path: join(ARTIFACTS, "gallery.png"), fullPage: true });

  // Delete: a confirmation first; cancelling keeps the avatar.
  await tile.getByRole("button", { name: /^Delete/ }).click();
  const dialog = page.locator("#confirm-delete");
  await dialog.waitFor({ state: "visible" });
  await dialog.getByRole("button", { name: "Cancel" }).click();
  assert.equal(await page.locator(".tile").count(), 1);
  await tile.getByRole("button", { name: /^Delete/ }).click();
  await dialog.getByRole("button", { name: "Delete" }).click();
  await page.locator(".tile").waitFor({ state: "detached" });
  assert.match(await page.textContent("#status"), /Deleted/);
  assert.deepEqual(await listAvatars(user), [], "the API agrees it is gone");
});

test("an iPhone photo (HEIC, Display P3) uploads from the page and shows as an sRGB thumbnail", async (t) => {
  const page = await newPage(t);
  const user = uniqueUser("heic");
  const heic = new URL("../fixtures/heif/heic_p3_icc.heic", import.meta.url);
  await open(page, "/web/upload");
  await page.fill("#user-id", user);
  await page.setInputFiles("#file", heic.pathname);
  // Sniffed as HEIC in the page; Chromium cannot preview it, the server decodes it.
  await page.locator("#preview-info", { hasText: "HEIC" }).waitFor();
  assert.equal(await page.locator("#message[role=alert]").count(), 0, "not refused in the page");
  await page.click("#submit");
  await page.locator("#result-link").waitFor({ timeout: TIMEOUT });
  const [avatar] = await listAvatars(user);
  assert.equal(avatar.mime_type, "image/jpeg", "stored as the JPEG every browser shows");
  await page.click("#result-link");
  const tile = page.locator(".tile").first();
  await tile.locator(".status-badge").filter({ hasText: "ready" }).waitFor({ timeout: TIMEOUT });
  const img = tile.locator("img");
  await page.waitForFunction((el) => el.complete && el.naturalWidth > 0, await img.elementHandle());
  assert.deepEqual(await img.evaluate((el) => [el.naturalWidth, el.naturalHeight]), [300, 300]);
  // The 100 px variant as a browser shows it (the closing note's screenshot).
  await page.goto(`${BASE}/api/v1/avatars/${avatar.id}?size=100x100`);
  const shown = await page.evaluate(() => {
    const el = document.querySelector("img");
    return el && [el.naturalWidth, el.naturalHeight];
  });
  assert.deepEqual(shown, [100, 100]);
  await page.screenshot({ path: join(ARTIFACTS, "heic-p3-100px.png") });
});

/** Waits until the avatar's metadata says ready; returns it. */
async function readyMetadata(id) {
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const response = await api(`/api/v1/avatars/${id}/metadata`);
    const meta = response.status === 200 ? await response.json() : null;
    if (meta && meta.status === "ready") return meta;
    assert.ok(Date.now() < deadline, `avatar ${id} not ready: ${JSON.stringify(meta)}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

test("the square chosen in the crop box is what the 100 px thumbnail shows", async (t) => {
  const page = await newPage(t);
  const user = uniqueUser("crop");
  await open(page, "/web/upload");
  await page.fill("#user-id", user);
  // A 900x600 PNG in three stripes, red | green | blue, drawn by the browser.
  const png = await page.evaluate(() => {
    const canvas = document.createElement("canvas");
    canvas.width = 900;
    canvas.height = 600;
    const g = canvas.getContext("2d");
    ["#dc1e1e", "#1ec81e", "#1e1edc"].forEach((colour, i) => {
      g.fillStyle = colour;
      g.fillRect(i * 300, 0, 300, 600);
    });
    return canvas.toDataURL("image/png").split(",")[1];
  });
  await page.setInputFiles("#file", { name: "stripes.png", mimeType: "image/png", buffer: Buffer.from(png, "base64") });
  const box = page.locator("#crop-box");
  await box.waitFor({ state: "visible" });
  // It starts on the server's default, the centred 600 px square.
  assert.equal(await box.getAttribute("data-crop"), "150,0,600");

  // The size slider by keyboard: Home is its minimum, the smallest thumbnail.
  await page.focus("#crop-size");
  await page.keyboard.press("Home");
  assert.equal(await box.getAttribute("data-crop"), "400,250,100");
  // Dragged by the pointer past the left edge: it stops there.
  const at = await box.boundingBox();
  await page.mouse.move(at.x + at.width / 2, at.y + at.height / 2);
  await page.mouse.down();
  await page.mouse.move(at.x - 400, at.y + at.height / 2, { steps: 5 });
  await page.mouse.up();
  assert.equal(await box.getAttribute("data-crop"), "0,250,100");
  // The corner handle makes it larger, keeping its top-left corner.
  const handle = await page.locator("#crop-handle").boundingBox();
  await page.mouse.move(handle.x + handle.width / 2, handle.y + handle.height / 2);
  await page.mouse.down();
  await page.mouse.move(handle.x + 400, handle.y + handle.height / 2, { steps: 5 });
  await page.mouse.up();
  assert.equal(await box.getAttribute("data-crop"), "0,250,350", "as large as the picture allows");
  // The keyboard: - shrinks it about its centre, End takes it to the right edge.
  await page.focus("#crop-box");
  for (let i = 0; i < 40; i += 1) await page.keyboard.press("-");
  await page.keyboard.press("End");
  await page.keyboard.press("PageDown");
  assert.equal(await box.getAttribute("data-crop"), "800,500,100");
  await page.keyboard.press("Shift+ArrowUp");
  assert.equal(await box.getAttribute("data-crop"), "800,490,100");
  assert.match(await page.textContent("#crop-info"), /Square of 100×100 pixels at 800, 490\./);
  await page.screenshot({ path: join(ARTIFACTS, "crop.png"), fullPage: true });

  await page.click("#submit");
  await page.locator("#result-link").waitFor();
  const id = await page.getAttribute("#upload-form", "data-avatar-id");
  const meta = await readyMetadata(id);
  assert.deepEqual(meta.crop, { x: 800, y: 490, width: 100, height: 100 });
  // The 100 px thumbnail, as the browser shows it: the blue square.
  await page.goto(`${BASE}/api/v1/avatars/${id}?size=100x100`);
  const pixel = await page.evaluate(async () => {
    const img = document.querySelector("img");
    await img.decode();
    const canvas = document.createElement("canvas");
    canvas.width = img.naturalWidth;
    canvas.height = img.naturalHeight;
    const g = canvas.getContext("2d");
    g.drawImage(img, 0, 0);
    return [img.naturalWidth, ...g.getImageData(50, 50, 1, 1).data.slice(0, 3)];
  });
  assert.equal(pixel[0], 100);
  const [r, g, b] = pixel.slice(1);
  assert.ok(b > 180 && r < 70 && g < 70, `blue, as the chosen square: rgb(${r}, ${g}, ${b})`);
});

test("upload by drag and drop", async (t) => {
  const page = await newPage(t);
  const user = uniqueUser("drop");
  await open(page, "/web/upload");
  await page.fill("#user-id", user);
  const bytes = readFileSync(join(CORPUS, DROPPED));
  const dataTransfer = await page.evaluateHandle(
    ({ b64, name }) => {
      const raw = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
      const transfer = new DataTransfer();
      transfer.items.add(new File([raw], name, { type: "image/png" }));
      return transfer;
    },
    { b64: bytes.toString("base64"), name: DROPPED },
  );
  const zone = page.locator("#drop-zone");
  await zone.dispatchEvent("dragenter", { dataTransfer });
  await zone.dispatchEvent("dragover", { dataTransfer });
  assert.ok(await zone.evaluate((el) => el.classList.contains("dragging")), "the zone shows it is a target");
  await zone.dispatchEvent("drop", { dataTransfer });
  await expectPreview(page);
  assert.match(await page.textContent("#preview-info"), /PNG · 2140×1200/);

  await page.click("#submit");
  await expectFullProgress(page, bytes.length);
  await page.click("#result-link");
  await page.waitForURL(`${BASE}/web/gallery/${user}`);
  await page.locator(".tile .status-badge", { hasText: "ready" }).waitFor();
  const [item] = await listAvatars(user);
  assert.equal(item.mime_type, "image/png");
  assert.equal(item.file_name, DROPPED);

  // Readable on a phone: nothing wider than the screen, on either page.
  const phone = await newPage(t, { viewport: { width: 390, height: 844 }, deviceScaleFactor: 3, isMobile: true, hasTouch: true });
  for (const path of ["/web/upload", `/web/gallery/${user}`]) {
    await open(phone, path);
    const overflow = await phone.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `${path} fits a 390 px screen (overflow ${overflow} px)`);
  }
  await phone.locator(".tile .status-badge", { hasText: "ready" }).waitFor();
  await phone.screenshot({ path: join(ARTIFACTS, "gallery-phone.png") });
});

test("a file over the inline limit goes straight to storage (presigned PUT) with progress", async (t) => {
  const page = await newPage(t);
  const user = uniqueUser("direct");
  const bytes = readFileSync(join(CORPUS, LARGE));
  const config = await (await api("/web/config.json")).json();
  assert.ok(bytes.length > config.inline_upload_bytes, `${LARGE} is over inline_upload_bytes`);
  await open(page, "/web/upload");
  await page.fill("#user-id", user);
  const requests = [];
  page.on("request", (r) => requests.push(`${r.method()} ${r.url()}`));
  await page.setInputFiles("#file", join(CORPUS, LARGE));
  await expectPreview(page);

  const put = page.waitForResponse((r) => r.request().method() === "PUT");
  await page.click("#submit");
  const stored = await put;
  assert.equal(stored.status(), 200, "storage took the file");
  assert.notEqual(new URL(stored.url()).origin, new URL(BASE).origin, "the bytes go to storage, not the API");
  await expectFullProgress(page, bytes.length);
  await page.locator("#result-link").waitFor();
  assert.equal(await page.getAttribute("#upload-form", "data-upload-path"), "direct");
  const id = await page.getAttribute("#upload-form", "data-avatar-id");
  assert.ok(requests.includes(`POST ${BASE}/api/v1/avatars/uploads`), "a presigned URL was asked for");
  assert.ok(!requests.includes(`POST ${BASE}/api/v1/avatars`), "no multipart POST");

  // The page waited for the server's validation: the gallery has it.
  await page.click("#result-link");
  await page.waitForURL(`${BASE}/web/gallery/${user}`);
  await page.locator(".tile .status-badge", { hasText: "ready" }).waitFor();
  const [item] = await listAvatars(user);
  assert.equal(item.mime_type, "image/png");
  assert.equal(item.file_name, LARGE);
  assert.equal(item.id, id);
});

test("a direct upload the server cannot read says so", async (t) => {
  const page = await newPage(t);
  await open(page, "/web/upload");
  await page.fill("#user-id", uniqueUser("direct-bad"));
  // PNG magic bytes, then nothing an image decoder accepts: the page's
  // checks pass, the thumbnail function's validation does not.
  const bogus = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), Buffer.alloc(1_100_000, 7)]);
  await page.setInputFiles("#file", { name: "bogus.png", mimeType: "image/png", buffer: bogus });
  await page.click("#submit");
  await page.locator("#message.error").waitFor();
  assert.match(await page.textContent("#message"), /could not be read/);
  assert.equal(await page.getAttribute("#upload-form", "data-upload-path"), "direct");
});

test("interactive API docs: Swagger UI on the service's OpenAPI document", async (t) => {
  const page = await newPage(t);
  await open(page, "/web/docs");
  const spec = await (await api("/api/v1/openapi.json")).json();
  const operations = Object.values(spec.paths).flatMap((item) => Object.keys(item)).length;
  await page.locator(".opblock").first().waitFor();
  assert.equal(await page.locator(".opblock").count(), operations, "every operation is listed");
  // Try it out against this origin: GET /health.
  const health = page.locator(".opblock", { has: page.locator('[data-path="/health"]') }).first();
  await health.locator(".opblock-summary").click();
  await health.getByRole("button", { name: "Try it out" }).click();
  const answered = page.waitForResponse((r) => r.url() === `${BASE}/health`);
  await health.getByRole("button", { name: "Execute" }).click();
  assert.equal((await answered).status(), 200);
  await page.screenshot({ path: join(ARTIFACTS, "docs.png"), fullPage: false });
});

test("the vendored Swagger UI is npm's swagger-ui-dist, byte for byte", () => {
  for (const file of ["swagger-ui-bundle.js", "swagger-ui.css"]) {
    const vendored = readFileSync(new URL(`../web-static/assets/${file}`, import.meta.url));
    const upstream = readFileSync(new URL(`./node_modules/swagger-ui-dist/${file}`, import.meta.url));
    assert.ok(vendored.equals(upstream), `web-static/assets/${file} differs from the npm package`);
  }
});

test("without JavaScript the form posts and lands on the gallery (303)", async (t) => {
  const page = await newPage(t, { javaScriptEnabled: false });
  const user = uniqueUser("nojs");
  await page.goto(`${BASE}/web/upload`);
  assert.ok(await page.locator("#file").isVisible(), "the plain file input is usable");
  await page.fill("#user-id", user);
  await page.setInputFiles("#file", join(CORPUS, PHOTO));
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/web/upload` && r.request().method() === "POST"),
    page.click("#submit"),
  ]);
  assert.equal(response.status(), 303);
  await page.waitForURL(`${BASE}/web/gallery/${user}`);
  assert.equal((await listAvatars(user)).length, 1);

  // A rejected file shows the message as a page, with the 400 kept.
  await page.goto(`${BASE}/web/upload`);
  await page.fill("#user-id", user);
  await page.setInputFiles("#file", { name: "notes.jpg", mimeType: "image/jpeg", buffer: Buffer.from("plain text") });
  const [rejected] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/web/upload`),
    page.click("#submit"),
  ]);
  assert.equal(rejected.status(), 400);
  assert.match(await page.textContent("[role=alert]"), /not a JPEG, PNG, WebP, HEIC or AVIF image/);
  assert.equal((await listAvatars(user)).length, 1, "nothing stored for the rejected file");
});

test("rejected files show why, before and after sending", async (t) => {
  const page = await newPage(t);
  const user = uniqueUser("reject");
  await open(page, "/web/upload");
  await page.fill("#user-id", user);
  const message = page.locator("#message");

  // Not an image (whatever its name): refused in the page, nothing sent.
  await page.setInputFiles("#file", { name: "cat.png", mimeType: "image/png", buffer: Buffer.from("GIF89a not really") });
  await message.filter({ hasText: "not a JPEG, PNG, WebP, HEIC or AVIF image" }).waitFor();
  assert.equal(await message.getAttribute("role"), "alert");

  // Over the server's limit (from config.json): refused in the page.
  const big = Buffer.alloc(10 * 1024 * 1024 + 1);
  big.set([0xff, 0xd8, 0xff, 0xe0]);
  await page.setInputFiles("#file", { name: "huge.jpg", mimeType: "image/jpeg", buffer: big });
  await message.filter({ hasText: "the limit is 10 MiB" }).waitFor();
  await page.click("#submit");
  assert.ok(await page.locator("#progress-box").isHidden(), "nothing is sent");

  // Looks like a JPEG but is cut off: the server's 400 in words.
  const truncated = readFileSync(join(CORPUS, PHOTO)).subarray(0, 4000);
  await page.setInputFiles("#file", { name: "cut.jpg", mimeType: "image/jpeg", buffer: truncated });
  await page.click("#submit");
  await message.filter({ hasText: "could not be read" }).waitFor();
  assert.deepEqual(await listAvatars(user), [], "nothing stored");
  await page.screenshot({ path: join(ARTIFACTS, "upload-error.png"), fullPage: true });

  // No user id: asked for before anything is sent.
  await page.fill("#user-id", "");
  await page.setInputFiles("#file", join(CORPUS, PHOTO));
  await expectPreview(page);
  await page.click("#submit");
  await message.filter({ hasText: "Enter your user id" }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), "user-id");
});

test("pages carry a strict Content-Security-Policy and no inline script", async () => {
  for (const path of ["/web/upload", `/web/gallery/${uniqueUser("csp")}`]) {
    const response = await api(path);
    assert.equal(response.status, 200);
    assert.match(response.headers.get("content-type"), /^text\/html/);
    const csp = response.headers.get("content-security-policy");
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    const html = await response.text();
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/, `${path}: every script is a file`);
    assert.doesNotMatch(html, /\sstyle=|\son[a-z]+=/, `${path}: no inline style or handler`);
  }
});

/** Uploads `name` from the corpus as `user` through the API; its id once ready. */
async function uploadReady(user, name) {
  const form = new FormData();
  form.append("file", new Blob([readFileSync(join(CORPUS, name))]), name);
  const response = await api("/api/v1/avatars", { method: "POST", headers: { "X-User-ID": user }, body: form });
  assert.equal(response.status, 201);
  const { id } = await response.json();
  const deadline = Date.now() + TIMEOUT;
  for (;;) {
    const meta = await (await api(`/api/v1/avatars/${id}/metadata`)).json();
    if (meta.status === "ready") return { id, thumbhash: meta.thumbhash };
    assert.ok(Date.now() < deadline, `${name} never became ready`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

test("the vendored ThumbHash decoder is npm's thumbhash, byte for byte", () => {
  const vendored = readFileSync(new URL("../web-static/assets/thumbhash.js", import.meta.url));
  const upstream = readFileSync(new URL("./node_modules/thumbhash/thumbhash.js", import.meta.url));
  assert.ok(vendored.equals(upstream), "web-static/assets/thumbhash.js differs from the npm package");
});

test("tiles show the ThumbHash until the thumbnail loads; a new avatar shows on return", async (t) => {
  const page = await newPage(t);
  const user = uniqueUser("hash");
  const first = await uploadReady(user, PHOTO);
  assert.match(first.thumbhash, /^[A-Za-z0-9+/]+=*$/, "ready metadata carries a base64 ThumbHash");
  // Hold the thumbnails back, as a slow network would.
  let release;
  const held = new Promise((resolve) => { release = resolve; });
  await page.route(/\/api\/v1\/avatars\/[^/]+\?size=/, async (route) => {
    await held;
    await route.continue();
  });
  await open(page, `/web/gallery/${user}`);
  const tile = page.locator(`.tile[data-id="${first.id}"]`);
  const canvas = tile.locator("canvas.thumbhash");
  await canvas.waitFor({ state: "visible" });
  const painted = await canvas.evaluate((c) => {
    const { data } = c.getContext("2d").getImageData(0, 0, c.width, c.height);
    let opaque = 0;
    for (let i = 3; i < data.length; i += 4) opaque += data[i] > 0 ? 1 : 0;
    return { w: c.width, h: c.height, opaque };
  });
  assert.ok(painted.w > 0 && painted.h > 0 && painted.opaque === painted.w * painted.h,
    `the placeholder is painted (${JSON.stringify(painted)})`);
  await page.screenshot({ path: join(ARTIFACTS, "gallery-placeholder.png"), fullPage: true });
  release();
  await canvas.waitFor({ state: "hidden" });
  assert.ok(await tile.locator("img").isVisible(), "the thumbnail replaces the placeholder");

  // Another device uploads a new picture; coming back to the page shows
  // it, marked current, without a reload.
  const second = await uploadReady(user, DROPPED);
  await page.evaluate(() => window.dispatchEvent(new Event("focus")));
  const newest = page.locator(".tile").first();
  await page.waitForFunction((id) => document.querySelector(".tile")?.dataset.id === id, second.id);
  await newest.locator(".current-badge").waitFor({ state: "visible" });
  assert.ok(await tile.locator(".current-badge").isHidden(), "the older one is no longer current");
  assert.equal(await page.locator(".tile").count(), 2);
});
