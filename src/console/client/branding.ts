// The branding preview on a tenant's page: it follows the branding form as the operator types, by the rules the
// authenticator app itself applies (web-sdk/app/app.js applyBranding), so what the preview shows is what users get.

const DEFAULT_NAME = 'Authenticator';
const DEFAULT_ICON = '/app/icons/icon.svg';
const COLOUR = /^#[0-9a-fA-F]{6}$/;

/** The app shows a logo only from https or its own origin; anything else falls back to its icon. */
function safeLogo(url: string): string | undefined {
  if (!url) return undefined;
  try {
    const parsed = new URL(url, location.href);
    return parsed.protocol === 'https:' || parsed.origin === location.origin ? parsed.href : undefined;
  } catch {
    return undefined;
  }
}

function paint(preview: HTMLElement, branding: { name: string; logo: string; colour: string }): void {
  const name = preview.querySelector<HTMLElement>('[data-preview-name]');
  if (name) name.textContent = branding.name.trim() || DEFAULT_NAME;
  const logo = preview.querySelector<HTMLImageElement>('[data-preview-logo]');
  if (logo) {
    const src = safeLogo(branding.logo.trim()) ?? DEFAULT_ICON;
    logo.onerror = () => {
      logo.onerror = null;
      logo.src = DEFAULT_ICON;
    };
    if (logo.getAttribute('src') !== src) logo.src = src;
  }
  // A colour that is not #rrggbb is what the app ignores too: the preview keeps the default then.
  const colour = branding.colour.trim();
  if (COLOUR.test(colour)) preview.style.setProperty('--brand', colour);
  else preview.style.removeProperty('--brand');
  const warning = preview.querySelector<HTMLElement>('[data-preview-contrast]');
  if (warning) {
    const ratio = COLOUR.test(colour) ? contrastWithWhite(colour) : undefined;
    warning.textContent = ratio !== undefined && ratio < 4.5
      ? `White text on ${colour} has a contrast of ${ratio.toFixed(1)}:1; WCAG AA asks for 4.5:1. Choose a darker colour.`
      : '';
  }
}

/** WCAG 2 contrast ratio of white text on a #rrggbb background. */
function contrastWithWhite(hex: string): number {
  const channel = (i: number): number => {
    const v = parseInt(hex.slice(i, i + 2), 16) / 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = 0.2126 * channel(1) + 0.7152 * channel(3) + 0.0722 * channel(5);
  return 1.05 / (luminance + 0.05);
}

export function wireBrandingPreview(): void {
  for (const preview of document.querySelectorAll<HTMLElement>('[data-brand-preview]')) {
    paint(preview, { name: preview.dataset['name'] ?? '', logo: preview.dataset['logo'] ?? '', colour: preview.dataset['colour'] ?? '' });
    const form = preview.closest('section')?.querySelector<HTMLFormElement>('form[data-branding-form]');
    if (!form) continue;
    const read = (name: string): string => (form.elements.namedItem(name) as HTMLInputElement | null)?.value ?? '';
    form.addEventListener('input', () => paint(preview, { name: read('brandName'), logo: read('logoUrl'), colour: read('primaryColor') }));
  }
}
