// Drives code-server (a real VS Code in the browser) with Debian's chromium
// through playwright-core, as a developer would use the Coop extension:
// sign in, open a file, read its owners in the status bar and the sidebar,
// ask a question and watch the answer stream in. Called by
// tests/e2e/test_extension.py with one JSON argument; prints one JSON line
// of results and exits non-zero on failure (after a screenshot).
import { chromium } from 'playwright-core';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';

const cfg = JSON.parse(process.argv[2]);
const results = { steps: [] };
mkdirSync(cfg.artifacts, { recursive: true });

const step = async (name, fn) => {
  const t = Date.now();
  try {
    const out = await fn();
    results.steps.push({ name, ms: Date.now() - t });
    return out;
  } catch (e) {
    results.steps.push({ name, ms: Date.now() - t, error: String(e && e.message ? e.message : e).slice(0, 2000) });
    throw e;
  }
};

const browser = await chromium.launch({
  executablePath: cfg.chromium || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
const page = await browser.newPage({ viewport: { width: 1440, height: 900 } });
page.setDefaultTimeout(cfg.timeoutMs || 60000);
const consoleErrors = [];
page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text().slice(0, 300)); });

async function command(title) {
  // The palette lists what was registered when it opened: until the
  // extension host has read the extension, reopen it.
  const deadline = Date.now() + (cfg.timeoutMs || 60000);
  for (;;) {
    await page.keyboard.press('F1');
    const input = page.locator('.quick-input-widget input');
    await input.waitFor({ state: 'visible' });
    await input.fill('>' + title);
    const row = page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first();
    try {
      await row.waitFor({ timeout: 3000 });
      await page.keyboard.press('Enter');
      return;
    } catch (e) {
      if (Date.now() > deadline) throw e;
      await page.keyboard.press('Escape');
      await page.waitForTimeout(1000);
    }
  }
}

async function answerInput(title, text) {
  // Wait for the extension's own prompt (by its title), not the palette
  // that is still closing.
  const widget = page.locator('.quick-input-widget', { has: page.locator('.quick-input-title', { hasText: title }) });
  await widget.waitFor({ state: 'visible' });
  await widget.locator('input').first().fill(text);
  await page.keyboard.press('Enter');
  await widget.waitFor({ state: 'hidden' });
}

async function notifications() {
  return page.locator('.notifications-toasts .notification-list-item-message').allInnerTexts().catch(() => []);
}

async function shot(name) {
  const path = join(cfg.artifacts, name);
  await page.screenshot({ path });
  return path;
}

let failed = false;
try {
  await step('open workbench', async () => {
    await page.goto(`${cfg.url}/?folder=${encodeURIComponent(cfg.workspace)}`);
    await page.locator('.monaco-workbench').waitFor();
    await page.locator('.statusbar').waitFor();
    // The extension's view container appears once the extension host has read it.
    await page.locator('.activitybar [aria-label^="Coop"]').first().waitFor();
  });

  await step('sign in', async () => {
    await command('Coop: Sign In');
    await answerInput('Coop: Sign In', cfg.token);
    await page.locator('.notifications-toasts', { hasText: 'signed in to' }).waitFor({ timeout: 20000 });
  });

  await step('open file', async () => {
    const rows = page.locator('.explorer-folders-view .monaco-list-row');
    const parts = cfg.file.split('/');
    for (const [i, name] of parts.entries()) {
      const row = rows.filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${name.replace(/[.]/g, '\\.')}$`) }) }).first();
      await row.click();
      if (i < parts.length - 1) await page.waitForTimeout(300);
    }
    await page.locator('.tabs-container .tab', { hasText: cfg.file.split('/').pop() }).waitFor();
  });

  results.statusBar = await step('owners in status bar', async () => {
    const item = page.locator('.statusbar-item', { hasText: cfg.expectOwner });
    await item.waitFor();
    return (await item.first().innerText()).trim();
  });

  results.codeLens = await step('owners in CodeLens', async () => {
    const lens = page.locator('.contentWidgets .codelens-decoration, .codelens-decoration', { hasText: 'owned by' });
    await lens.first().waitFor();
    return (await lens.first().innerText()).trim();
  });

  results.sidebar = await step('owners in sidebar', async () => {
    await page.locator('.activitybar .action-item a[aria-label^="Coop"], .activitybar .action-item [aria-label^="Coop"]').first().click();
    const tree = page.locator('.pane', { hasText: 'This File' }).locator('.monaco-list');
    for (const text of cfg.expectSidebar) {
      await tree.locator('.monaco-list-row', { hasText: text }).first().waitFor();
    }
    return (await tree.first().innerText()).split('\n').map((s) => s.trim()).filter(Boolean);
  });
  results.screenshots = [await shot('owners.png')];

  if (cfg.ask) {
    results.answer = await step('ask about the file', async () => {
      await command('Coop: Ask About This File');
      await answerInput('Ask Coop about', cfg.ask.question);
      // The webview's document sits in nested iframes; find the one with the answer.
      const deadline = Date.now() + (cfg.timeoutMs || 60000);
      for (;;) {
        for (const f of page.frames()) {
          const text = await f.evaluate(() => {
            const a = document.getElementById('answer');
            const s = document.getElementById('status');
            return a ? { answer: a.textContent, status: s ? s.textContent : '' } : null;
          }).catch(() => null);
          if (text && text.answer.includes(cfg.ask.expect) && !/Waiting|Answering/.test(text.status)) return text;
        }
        if (Date.now() > deadline) throw new Error('no answer in the Ask panel');
        await page.waitForTimeout(200);
      }
    });
    results.screenshots.push(await shot('ask.png'));
  }
} catch (e) {
  failed = true;
  results.error = String(e && e.stack ? e.stack : e).slice(0, 4000);
  results.notifications = await notifications();
  try {
    await page.locator('.activitybar [aria-label^="Coop"]').first().click({ timeout: 5000 });
    await page.waitForTimeout(500);
    results.sidebarOnFailure = await page.locator('.pane', { hasText: 'This File' }).first().innerText({ timeout: 5000 });
  } catch { /* no sidebar */ }
  try { results.screenshots = [...(results.screenshots || []), await shot('failure.png')]; } catch { /* page gone */ }
}
results.consoleErrors = consoleErrors.slice(0, 20);
await browser.close();
process.stdout.write(JSON.stringify(results) + '\n');
process.exit(failed ? 1 : 0);
