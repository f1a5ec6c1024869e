import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// In development the API runs as `corerecon serve` on 127.0.0.1:8080 (override with
// CORERECON_DEV_API); Vite proxies every server route to it, WebSocket included.
const api = process.env.CORERECON_DEV_API ?? 'http://127.0.0.1:8080';

export default defineConfig({
  plugins: [react()],
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    sourcemap: false,
    chunkSizeWarningLimit: 700,
  },
  server: {
    port: 5173,
    proxy: {
      '/api': { target: api, changeOrigin: true, ws: true },
      '/healthz': { target: api, changeOrigin: true },
      '/readyz': { target: api, changeOrigin: true },
      '/services': { target: api, changeOrigin: true },
    },
  },
});
