// The web pages in AUTH_MODE=jwt, in Debian's Chromium: the application
// that embeds them puts the user's access token in sessionStorage (or it is
// pasted into the page), the pages send it as a bearer token, and the
// service verifies it against a JWKS this test serves on loopback.
//
// Environment (scripts/web-tests.sh): JWT_BASE_URL (a gateway in jwt mode
// whose JWT_JWKS_URL is http://127.0.0.1:$JWKS_PORT/jwks.json), JWT_ISSUER,
// JWT_AUDIENCE, CORPUS_DIR, ARTIFACTS_DIR, CHROMIUM.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { generateKeyPairSync, sign } from "node:crypto";
import { mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { chromium } from "playwright-core";

const BASE = process.env.JWT_BASE_URL;
const CORPUS = process.env.CORPUS_DIR;
const ARTIFACTS = process.env.ARTIFACTS_DIR || "target/web-tests";
const { JWKS_PORT, JWT_ISSUER, JWT_AUDIENCE } = process.env;
assert.ok(BASE && CORPUS && JWKS_PORT && JWT_ISSUER && JWT_AUDIENCE, "run scripts/web-tests.sh");
mkdirSync(ARTIFACTS, { recursive: true });

const PHOTO = "j05_photo_bridge.jpg";
const TIMEOUT = 30_000;
const KID = "web-test";
const { privateKey, publicKey } = generateKeyPairSync("ec", { namedCurve: "P-256" });

const b64url = (bytes) => Buffer.from(bytes).toString("base64url");

/** An ES256 JWT for `sub`, valid for 5 minutes unless `claims` say otherwise. */
function token(sub, claims = {}) {
  const now = Math.floor(Date.now() / 1000);
  const header = b64url(JSON.stringify({ alg: "ES256", typ: "JWT", kid: KID }));
  const payload = b64url(
    JSON.stringify({ iss: JWT_ISSUER, aud: JWT_AUDIENCE, sub, iat: now, exp: now + 300, ...claims }),
  );
  const signature = sign("sha256", Buffer.from(`${header}.${payload}`), {
    key: privateKey,
    dsaEncoding: "ieee-p1363",
  });
  return `${header}.${payload}.${b64url(signature)}`;
}

let browser;
let jwks;

before(async () => {
  const key = { ...publicKey.export({ format: "jwk" }), kid: KID, alg: "ES256", use: "sig" };
  jwks = createServer((request, response) => {
    response.writeHead(200, { "content-type": "application/json" });
    response.end(JSON.stringify({ keys: [key] }));
  });
  await new Promise((resolve) => jwks.listen(Number(JWKS_PORT), "127.0.0.1", resolve));
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"],
  });
});

after(async () => {
  await browser?.close();
  await new Promise((resolve) => jwks?.close(resolve));
});

/** A page whose sessionStorage holds `accessToken` before any script runs,
 *  as the embedding application leaves it; fails on script errors. */
async function pageWithToken(t, accessToken) {
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
  if (accessToken) {
    await context.addInitScript((value) => sessionStorage.setItem("avatars.token", value), accessToken);
  }
  const page = await context.newPage();
  page.setDefaultTimeout(TIMEOUT);
  const problems = [];
  page.on("pageerror", (e) => problems.push(`page error: ${e.message}`));
  page.on("console", (m) => {
    if (m.type() === "error" && !/Failed to load resource/.test(m.text())) problems.push(`console: ${m.text()}`);
  });
  t.after(async () => {
    await context.close();
    assert.deepEqual(problems, [], "no script errors or CSP violations");
  });
  return page;
}

async function open(page, path) {
  await page.goto(`${BASE}${path}`);
  await page.locator("html[data-ready]").waitFor({ state: "attached" });
}

function uniqueUser(prefix) {
  return `${prefix}-${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

async function listAvatars(user) {
  const response = await fetch(`${BASE}/api/v1/users/${user}/avatars`);
  assert.equal(response.status, 200);
  return (await response.json()).items;
}

test("with a token in sessionStorage: upload as the token's user, then delete from the gallery", async (t) => {
  const user = uniqueUser("jwt");
  const page = await pageWithToken(t, token(user));
  await open(page, "/web/upload");
  assert.ok(await page.locator("#user-field").isHidden(), "no user id field: the token says who");
  assert.ok(await page.locator("#token-field").isVisible());
  assert.equal(await page.locator("#gallery-link").getAttribute("href"), `/web/gallery/${user}`);

  await page.setInputFiles("#file", join(CORPUS, PHOTO));
  await page.locator("#preview").waitFor({ state: "visible" });
  const [response] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/api/v1/avatars`),
    page.click("#submit"),
  ]);
  assert.equal(response.status(), 201);
  assert.match(await response.request().headerValue("authorization"), /^Bearer /);
  assert.equal(await response.request().headerValue("x-user-id"), null, "no X-User-ID is sent");
  await page.locator("#result-link").waitFor();
  const [item] = await listAvatars(user);
  assert.equal(item.user_id, user);

  await page.click("#result-link");
  await page.waitForURL(`${BASE}/web/gallery/${user}`);
  await page.locator("html[data-ready]").waitFor({ state: "attached" });
  const tile = page.locator(".tile").first();
  await tile.locator(".status-badge", { hasText: "ready" }).waitFor();
  await page.screenshot({ path: join(ARTIFACTS, "gallery-jwt.png"), fullPage: true });
  await tile.getByRole("button", { name: /^Delete/ }).click();
  const [deleted] = await Promise.all([
    page.waitForResponse((r) => r.request().method() === "DELETE"),
    page.locator("#confirm-delete").getByRole("button", { name: "Delete" }).click(),
  ]);
  assert.equal(deleted.status(), 204);
  await page.locator(".tile").waitFor({ state: "detached" });
  assert.deepEqual(await listAvatars(user), []);

  // Someone else's gallery: no delete buttons for this token.
  const other = uniqueUser("other");
  const form = new FormData();
  form.append("file", new Blob([readFileSync(join(CORPUS, PHOTO))]), PHOTO);
  const created = await fetch(`${BASE}/api/v1/avatars`, {
    method: "POST",
    headers: { authorization: `Bearer ${token(other)}` },
    body: form,
  });
  assert.equal(created.status, 201);
  await open(page, `/web/gallery/${other}`);
  await page.locator(".tile").first().waitFor();
  assert.equal(await page.locator(".tile button").count(), 0, "not the owner: nothing to delete");
});

test("a pasted token is used; a missing, expired or foreign one is refused in words", async (t) => {
  const page = await pageWithToken(t, null);
  const user = uniqueUser("paste");
  await open(page, "/web/upload");
  const message = page.locator("#message");
  await page.setInputFiles("#file", join(CORPUS, PHOTO));
  await page.locator("#preview").waitFor({ state: "visible" });

  // No token: asked for before anything is sent.
  await page.click("#submit");
  await message.filter({ hasText: "Paste your access token" }).waitFor();
  assert.equal(await page.evaluate(() => document.activeElement.id), "token");

  // An expired token: the server's 401, in words.
  await page.fill("#token", token(user, { exp: Math.floor(Date.now() / 1000) - 600 }));
  const [expired] = await Promise.all([
    page.waitForResponse((r) => r.url() === `${BASE}/api/v1/avatars`),
    page.click("#submit"),
  ]);
  assert.equal(expired.status(), 401);
  assert.match(expired.headers()["www-authenticate"], /error="invalid_token"/);
  await message.filter({ hasText: "access token is missing, expired or not accepted" }).waitFor();

  // A token for another audience: the same.
  await page.fill("#token", token(user, { aud: "somebody-else" }));
  await page.click("#submit");
  await message.filter({ hasText: "not accepted" }).waitFor();
  assert.deepEqual(await listAvatars(user), [], "nothing stored");

  // A good one, pasted: uploaded, and kept for this tab.
  await page.fill("#token", token(user));
  await page.click("#submit");
  await page.locator("#result-link").waitFor();
  assert.equal((await listAvatars(user)).length, 1);
  assert.equal(await page.evaluate(() => sessionStorage.getItem("avatars.token")), await page.inputValue("#token"));
});
