import react from "@vitejs/plugin-react";
import { defineConfig } from "vite";

// Relative asset paths: the same build is served at /console/ locally and at the CloudFront root in AWS.
export default defineConfig({
  base: "./",
  plugins: [react()],
  define: { global: "globalThis" }, // amazon-cognito-identity-js still refers to Node's `global`
  build: { outDir: "dist", emptyOutDir: true, sourcemap: false },
});
