import path from 'node:path';
import { defineConfig } from 'vite';

/**
 * The dashboard's build. Output is plain files (hashed JS and CSS under assets/), which the
 * server serves under its strict Content-Security-Policy: no inline script or style is
 * emitted, and the module-preload polyfill (an inline script) is turned off.
 */
export default defineConfig({
  root: import.meta.dirname,
  base: '/',
  esbuild: { jsx: 'automatic' },
  build: {
    outDir: path.join(import.meta.dirname, 'dist'),
    emptyOutDir: true,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
    assetsInlineLimit: 0,
    sourcemap: false,
  },
  server: {
    proxy: { '/api': 'http://127.0.0.1:3000' },
  },
});
