import { gzipSync } from "node:zlib";
import { defineConfig, type Plugin } from "vite";

/** Writes a gzip copy beside every script and style sheet (`index-1a2b.js.gz`), which the server
 * sends to browsers that accept it: the same bytes every build (zlib writes no time stamp). */
function precompress(): Plugin {
  return {
    name: "precompress",
    apply: "build",
    generateBundle(_options, bundle) {
      for (const file of Object.values(bundle)) {
        if (!/\.(js|css|html|svg|json)$/.test(file.fileName)) continue;
        const source = file.type === "chunk" ? file.code : file.source;
        this.emitFile({ type: "asset", fileName: `${file.fileName}.gz`, source: gzipSync(source, { level: 9 }) });
      }
    },
  };
}

// The built files are embedded in the single-window binary (build.rs reads dist/), which serves
// them on its gRPC port; the pages call the service over gRPC-Web on the same origin.
export default defineConfig({
  base: "/",
  plugins: [precompress()],
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
