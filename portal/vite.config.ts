import { defineConfig } from "vite";

// The built files are embedded in the single-window binary (build.rs reads dist/), which serves
// them on its gRPC port; the pages call the service over gRPC-Web on the same origin.
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    assetsInlineLimit: 0,
    sourcemap: false,
    target: "es2022",
  },
  oxc: {
    jsx: { runtime: "automatic", importSource: "preact" },
  },
  server: {
    // `npm run dev` against a server on the default address.
    proxy: {
      "/singlewindow.v1.": "http://127.0.0.1:50051",
      "/grpc.health.v1.": "http://127.0.0.1:50051",
      "/demo/": "http://127.0.0.1:50051",
    },
  },
});
