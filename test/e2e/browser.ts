/**
 * Headless Chromium for end-to-end tests: Debian's `chromium` driven by playwright-core, which never downloads a
 * browser of its own. Approvers read their mail on phones, so pages open at a phone's viewport.
 *
 * @example
 * const browser = await launchChromium();
 * const { page } = await openPhone(browser);
 * const authenticator = await addVirtualAuthenticator(page); // a passkey device only this page can use
 * await page.goto(link);
 * await saveScreenshot(page, "approval-page");
 * await browser.close();
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { type Browser, type BrowserContext, type BrowserContextOptions, chromium, type Page } from "playwright-core";
import { PROJECT_ROOT } from "../../scripts/policy-path.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
  // The broker listens on 127.0.0.1 only; approval links name localhost (WebAuthn refuses IP addresses as RP IDs).
  "--host-resolver-rules=MAP localhost 127.0.0.1",
];
/** An iPhone 12 to 15's CSS viewport: where the approval page must stay readable. */
export const PHONE_VIEWPORT = { width: 390, height: 844 } as const;
export const SCREENSHOT_DIR = join(PROJECT_ROOT, "test-results", "screenshots");

export function launchChromium(): Promise<Browser> {
  return chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
}

/** A fresh browser profile (no cookies, no passkeys) sized like a phone, with one page. */
export async function openPhone(
  browser: Browser,
  options: Pick<BrowserContextOptions, "javaScriptEnabled"> = {},
): Promise<{ context: BrowserContext; page: Page }> {
  const context = await browser.newContext({ viewport: PHONE_VIEWPORT, deviceScaleFactor: 2, isMobile: true, hasTouch: true, ...options });
  return { context, page: await context.newPage() };
}

export type VirtualCredential = { credentialId: string; rpId?: string; signCount: number; isResidentCredential: boolean };
export type VirtualAuthenticator = { credentials(): Promise<VirtualCredential[]> };

/**
 * Chromium's virtual WebAuthn authenticator (CDP WebAuthn domain), attached to this page only: a platform
 * authenticator with user verification that answers every ceremony at once, as a phone's fingerprint reader would.
 */
export async function addVirtualAuthenticator(page: Page): Promise<VirtualAuthenticator> {
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("WebAuthn.enable");
  const { authenticatorId } = await cdp.send("WebAuthn.addVirtualAuthenticator", {
    options: {
      protocol: "ctap2",
      transport: "internal",
      hasResidentKey: true,
      hasUserVerification: true,
      isUserVerified: true,
      automaticPresenceSimulation: true,
    },
  });
  return {
    async credentials() {
      return (await cdp.send("WebAuthn.getCredentials", { authenticatorId })).credentials;
    },
  };
}

/** A full-page PNG in test-results/screenshots/ (gitignored); returns its path. */
export async function saveScreenshot(page: Page, name: string): Promise<string> {
  await mkdir(SCREENSHOT_DIR, { recursive: true });
  const path = join(SCREENSHOT_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true });
  return path;
}
