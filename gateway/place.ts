import type { GatewayConfig } from './config.ts';
import type { Place } from './context.ts';

/** The place a gateway serves, from its configuration and the issuer it runs as (known once it listens). */
export function placeOf(config: Pick<GatewayConfig, 'campusName'>, issuer: string): Place {
  return config.campusName ? { issuer, campusName: config.campusName } : { issuer };
}

/** What people call the place: the campus's name, else the gateway's host ("id.campus.test"). */
export function placeName(place: Place): string {
  return place.campusName ?? new URL(place.issuer).host;
}

/**
 * The name mails give the service whose account they are about ("your Atrium account"): the campus's name
 * where it has one, since people there may never have heard of Atrium; else "Atrium", as before.
 */
export function serviceName(place: Place | undefined): string {
  return place?.campusName ?? 'Atrium';
}
