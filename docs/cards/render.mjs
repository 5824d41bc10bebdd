// Renders every notification card to docs/cards/<type>.png for the README (a documentation step, not a test).
//
//   node docs/cards/render.mjs          (from the repository root, after `make setup`)
//
// The Teams bodies come from docs/cards/samples.py (the product's own Notifier and cards, fed made-up links).
// Each card is parsed and checked by Microsoft's `adaptivecards` renderer (parse warnings fail the
// run), rendered in headless Chromium from Debian's `chromium` package (never a downloaded browser;
// CHROMIUM overrides the path) and screenshotted. Every request the page would make is refused.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");
const require = createRequire(import.meta.url);
const python = process.env.PYTHON || join(root, ".venv", "bin", "python");

const made = spawnSync(python, [join(here, "samples.py")], { encoding: "utf8" });
if (made.status !== 0) throw new Error(`samples.py failed:\n${made.stderr}`);
const samples = JSON.parse(made.stdout);

// Close to Teams' light theme; fonts Debian ships stand in for Segoe UI.
const hostConfig = {
  fontTypes: {
    default: { fontFamily: "'Segoe UI', 'DejaVu Sans', sans-serif",
      fontSizes: { small: 12, default: 14, medium: 16, large: 20, extraLarge: 24 },
      fontWeights: { lighter: 300, default: 400, bolder: 600 } },
    monospace: { fontFamily: "'DejaVu Sans Mono', monospace",
      fontSizes: { small: 11, default: 13, medium: 15, large: 18, extraLarge: 22 },
      fontWeights: { lighter: 300, default: 400, bolder: 600 } },
  },
  spacing: { small: 4, default: 8, medium: 16, large: 24, extraLarge: 32, padding: 16 },
  containerStyles: {
    default: { backgroundColor: "#FFFFFF", foregroundColors: {
      default: { default: "#242424", subtle: "#616161" }, attention: { default: "#C4314B", subtle: "#C4314B" },
      good: { default: "#237B4B", subtle: "#237B4B" }, warning: { default: "#835C00", subtle: "#835C00" },
      accent: { default: "#5B5FC7", subtle: "#5B5FC7" } } },
    emphasis: { backgroundColor: "#F0F0F0" }, good: { backgroundColor: "#E7F2DA" },
    attention: { backgroundColor: "#FCF4F6" }, warning: { backgroundColor: "#FBF6D9" },
    accent: { backgroundColor: "#E8EBFA" },
  },
  actions: { actionsOrientation: "horizontal", buttonSpacing: 8, maxActions: 5, spacing: "default" },
  factSet: { title: { weight: "bolder", wrap: true, maxWidth: 170 }, value: { wrap: true }, spacing: 12 },
};

const profile = mkdtempSync(join(tmpdir(), "hublink-cards-"));
const context = await chromium.launchPersistentContext(profile, {
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run"],
  viewport: { width: 640, height: 400 },
  deviceScaleFactor: 1,
});
let failed = false;
try {
  await context.route("**/*", (route) => route.abort());
  const page = await context.newPage();
  await page.setContent(`<!doctype html><html><body style="margin:0;background:#F5F5F5">
    <div id="card" style="width:600px;margin:16px;background:#FFF;border-radius:6px;overflow:hidden;
      box-shadow:0 1px 4px rgba(0,0,0,.18)"></div></body></html>`);
  await page.addScriptTag({ path: require.resolve("adaptivecards/dist/adaptivecards.min.js") });
  await page.addStyleTag({ path: require.resolve("adaptivecards/dist/adaptivecards.css") });
  for (const [type, { teams }] of Object.entries(samples)) {
    const content = teams.attachments[0].content;
    const problems = await page.evaluate(([card, config]) => {
      const AC = window.AdaptiveCards;
      const parsed = new AC.AdaptiveCard();
      parsed.hostConfig = new AC.HostConfig(config);
      const ctx = new AC.SerializationContext();
      parsed.parse(card, ctx);
      const out = [];
      for (let i = 0; i < ctx.eventCount; i++) out.push(ctx.getEventAt(i).message);
      for (const e of parsed.validateProperties().validationEvents) out.push(e.message);
      const host = document.getElementById("card");
      host.replaceChildren(parsed.render());
      return out;
    }, [content, hostConfig]);
    if (problems.length) {
      failed = true;
      console.error(`${type}: ${problems.join("; ")}`);
    }
    const file = join(here, `${type.replace(/\./g, "-")}.png`);
    await page.locator("#card").screenshot({ path: file });
    console.log(`rendered ${file}`);
  }
} finally {
  await context.close();
  rmSync(profile, { recursive: true, force: true });
}
if (failed) process.exit(1);

