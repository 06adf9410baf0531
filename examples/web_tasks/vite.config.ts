import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// `npm run dev` proxies the API and files to `fusiondb serve` on :8000; `npm run build` writes
// dist/, which `fusiondb serve --static dist` serves itself (same origin, no proxy).
export default defineConfig({
  plugins: [react()],
  // fusiondb-client is linked from clients/js: one React for the page and the hooks.
  resolve: { dedupe: ["react", "react-dom"] },
  server: {
    proxy: {
      "/api": { target: "http://127.0.0.1:8000", ws: true },
      "/files": "http://127.0.0.1:8000",
    },
  },
});
