/**
 * The headless Chromium both browser runs use (the browser test project in vitest.config.ts and
 * the webgl benchmark in bench/webgl/vitest.config.ts): Debian's /usr/bin/chromium or
 * $TFCAM_CHROMIUM, driven by playwright (which downloads no browser).
 */
import { playwright } from '@vitest/browser-playwright';

export const chromiumPath = process.env['TFCAM_CHROMIUM'] ?? '/usr/bin/chromium';

/**
 * The playwright provider for `chromiumPath`. `swiftshader`: software WebGL2 (SwiftShader) even
 * where a GPU exists, so every machine gives the same roundings (tests); otherwise a GPU is used
 * where the browser finds one (benchmarks).
 */
export function chromiumProvider(swiftshader: boolean): ReturnType<typeof playwright> {
  return playwright({
    launchOptions: {
      executablePath: chromiumPath,
      args: [
        '--no-sandbox',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
        ...(swiftshader
          ? ['--use-angle=swiftshader', '--enable-unsafe-swiftshader']
          : ['--enable-unsafe-swiftshader', '--ignore-gpu-blocklist']),
      ],
    },
  });
}
