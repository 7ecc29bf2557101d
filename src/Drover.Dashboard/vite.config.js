import { defineConfig } from 'vite';

// The built assets go where the gateway embeds them from; they are committed, so neither CI nor a user needs npm.
export default defineConfig({
  base: '/',
  build: {
    outDir: '../Drover.Gateway/Dashboard/dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    // No inline data: URLs for assets, so the gateway's Content-Security-Policy can stay 'self'.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
  },
});
