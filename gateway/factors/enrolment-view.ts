import QRCode from 'qrcode';
import type { PendingEnrolment } from './totp.ts';

/**
 * What an enrolment page shows: the QR code as a PNG data URL (the gateway's CSP allows `img-src data:`,
 * and no script is needed), and the secret in groups of four for typing it in by hand.
 */
export async function presentEnrolment(
  pending: PendingEnrolment,
): Promise<{ qr: string; secret: string; uri: string }> {
  const qr = await QRCode.toDataURL(pending.uri, { errorCorrectionLevel: 'M', margin: 2, scale: 5 });
  return { qr, secret: pending.secret.match(/.{1,4}/g)!.join(' '), uri: pending.uri };
}
