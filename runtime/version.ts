/** The version of rota, printed by `rota --version`. Kept equal to package.json's by the build. */
export const VERSION = "0.1.0";
