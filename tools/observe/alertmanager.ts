/**
 * Alertmanager's configuration: one route per cluster, critical alerts to a pager receiver and the
 * rest to a ticket receiver of that cluster, grouped so that one revision's or one pod's alerts
 * arrive together. Receivers are webhooks whose URLs come from one template. Pure.
 */
import type { Place } from "./agents.js";

export interface AlertmanagerOptions {
  places: Place[];
  /** Receiver URL with `{cluster}` and `{severity}` (`page` or `ticket`) substituted. */
  webhookUrl: string;
  /** Seconds to wait for more alerts of a new group, and between notifications of a changed group. */
  groupWaitSeconds: number;
  groupIntervalSeconds: number;
  repeatIntervalSeconds: number;
}

export const DEFAULT_WEBHOOK_URL = "http://alert-receiver.monitoring.svc:8080/kwt/{cluster}/{severity}";

export const PRODUCTION_TIMING = {
  groupWaitSeconds: 30,
  groupIntervalSeconds: 300,
  repeatIntervalSeconds: 4 * 3600,
};

/** The labels an alert group shares: the alert, where it was recorded, and what it is about. */
export const GROUP_BY = ["alertname", "cluster", "region", "namespace", "namespace_name", "revision_name"];

type Severity = "page" | "ticket";

function receiverName(place: Place | undefined, severity: Severity): string {
  return `kwt-${place?.cluster ?? "unknown-cluster"}-${severity}`;
}

function receiver(options: AlertmanagerOptions, place: Place | undefined, severity: Severity) {
  const url = options.webhookUrl
    .replaceAll("{cluster}", place?.cluster ?? "unknown-cluster")
    .replaceAll("{severity}", severity);
  return { name: receiverName(place, severity), webhook_configs: [{ url, send_resolved: true }] };
}

export function alertmanagerConfig(options: AlertmanagerOptions): Record<string, unknown> {
  const places: Array<Place | undefined> = [...options.places, undefined];
  return {
    route: {
      // Alerts without a known cluster label (a Prometheus without the agents' external labels).
      receiver: receiverName(undefined, "ticket"),
      group_by: GROUP_BY,
      group_wait: `${options.groupWaitSeconds}s`,
      group_interval: `${options.groupIntervalSeconds}s`,
      repeat_interval: `${options.repeatIntervalSeconds}s`,
      routes: options.places.map((place) => ({
        matchers: [`cluster="${place.cluster}"`],
        receiver: receiverName(place, "ticket"),
        routes: [{ matchers: ['severity="critical"'], receiver: receiverName(place, "page") }],
      })),
    },
    receivers: places.flatMap((place) => [
      receiver(options, place, "page"),
      receiver(options, place, "ticket"),
    ]),
  };
}
