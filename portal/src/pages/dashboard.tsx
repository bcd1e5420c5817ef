// The public dashboard, for anyone without signing in: satisfaction per service and channel on
// each driver, service standards published beside live, wrong-door (decline) rates, the channel
// mix, and "you said, we did". Every chart has a table of the same figures; withheld figures say
// why, by the public report's suppression rules.

import { useState } from "preact/hooks";
import { clients } from "../api.js";
import { useLoad } from "../async.js";
import { BarChart } from "../components/chart.js";
import { PageTitle, Show } from "../components/common.js";
import {
  Suppression,
  type PublicReport,
  type PublicReportRow,
  type ServiceChannels,
  type WrongDoorRow,
} from "../gen/singlewindow/v1/feedback_service_pb.js";
import type { Service, ServiceStandard } from "../gen/singlewindow/v1/catalog_service_pb.js";
import { dateTime, decimal, loc, percent, useLang } from "../i18n.js";
import { useAgencyName } from "../names.js";
import { quarters } from "../time.js";

/** The most services the dashboard details (the report's first, by agency and service). */
const MAX_SERVICES = 12;

interface DashboardData {
  report: PublicReport;
  services: Service[];
  channels: ServiceChannels[];
}

async function load(quarter: string): Promise<DashboardData> {
  const { feedback, catalog } = clients(null);
  const report = await feedback.getPublicReport({ quarter });
  const names = [...new Set(report.rows.map((r) => r.service))].slice(0, MAX_SERVICES);
  const [services, channels] = await Promise.all([
    Promise.all(names.map((name) => catalog.getService({ name }))),
    Promise.all(names.map((service) => feedback.getChannelReport({ service }))),
  ]);
  return { report, services, channels: channels.flatMap((c) => c.services) };
}

export function Dashboard() {
  const { t } = useLang();
  const options = quarters();
  const [quarter, setQuarter] = useState(options[0]);
  const [loaded, reload] = useLoad(() => load(quarter), [quarter]);
  return (
    <>
      <PageTitle>{t.dashboardTitle}</PageTitle>
      <p class="lead">{t.dashboardIntro}</p>
      <div class="field inline">
        <label for="quarter">{t.quarter}</label>
        <select id="quarter" value={quarter} onChange={(e) => setQuarter((e.target as HTMLSelectElement).value)}>
          {options.map((q) => (
            <option key={q} value={q}>
              {q}
            </option>
          ))}
        </select>
      </div>
      <Show loaded={loaded} onRetry={reload}>
        {(data) => (
          <>
            <p class="notice">{t.suppressionRule(data.report.minimumRespondents)}</p>
            <Satisfaction rows={data.report.rows} />
            <Standards services={data.services} />
            <Declines report={data.report} />
            <Channels channels={data.channels} />
            <Actions report={data.report} />
          </>
        )}
      </Show>
    </>
  );
}

function Satisfaction({ rows }: { rows: PublicReportRow[] }) {
  const { t, lang } = useLang();
  return (
    <section aria-labelledby="satisfaction">
      <h2 id="satisfaction">{t.satisfactionTitle}</h2>
      {rows.length === 0 && <p>{t.noRows}</p>}
      {rows
        .filter((r) => r.suppression === Suppression.UNSPECIFIED)
        .map((row) => {
          const name = `${loc(row.displayName, lang)} (${t.channelName[row.channel]})`;
          const drivers = row.drivers.filter((d) => d.answered > 0);
          return (
            <figure key={`${row.service}-${row.channel}`} class="figure">
              <figcaption>{name}</figcaption>
              <BarChart
                label={t.satisfactionChartLabel(name)}
                categories={drivers.map((d) => t.driverName[d.driver])}
                series={[{ label: t.meanScore, values: drivers.map((d) => d.mean) }]}
                max={5}
              />
              <table>
                <caption class="visually-hidden">{t.satisfactionChartLabel(name)}</caption>
                <thead>
                  <tr>
                    <th scope="col">{t.driver}</th>
                    <th scope="col">{t.meanScore}</th>
                    <th scope="col">{t.respondents}</th>
                  </tr>
                </thead>
                <tbody>
                  {drivers.map((d) => (
                    <tr key={d.driver}>
                      <th scope="row">{t.driverName[d.driver]}</th>
                      <td>{decimal(d.mean, lang)}</td>
                      <td>{String(d.answered)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </figure>
          );
        })}
      {rows.length > 0 && (
        <table>
          <caption>{t.satisfactionTitle}</caption>
          <thead>
            <tr>
              <th scope="col">{t.service}</th>
              <th scope="col">{t.channel}</th>
              <th scope="col">{t.respondents}</th>
              <th scope="col">{t.responseRate}</th>
              <th scope="col">{t.shareSatisfied}</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((row) => {
              const withheld = row.suppression !== Suppression.UNSPECIFIED;
              return (
                <tr key={`${row.service}-${row.channel}`}>
                  <th scope="row">{loc(row.displayName, lang)}</th>
                  <td>{t.channelName[row.channel]}</td>
                  {withheld ? (
                    <td colSpan={3}>
                      {t.withheld}: {t.suppressionName[row.suppression]}
                    </td>
                  ) : (
                    <>
                      <td>{String(row.respondents)}</td>
                      <td>{percent(row.responseRate, lang)}</td>
                      <td>{percent(row.shareSatisfied, lang)}</td>
                    </>
                  )}
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </section>
  );
}

function standardLabel(standard: ServiceStandard, lang: "en" | "fr"): string {
  const text = loc(standard.text, lang);
  return text.length > 60 ? `${text.slice(0, 57)}…` : text;
}

function Standards({ services }: { services: Service[] }) {
  const { t, lang } = useLang();
  const measured = services
    .map((s) => ({ service: s, standards: s.standards.filter((x) => (x.livePerformance?.completed ?? 0n) > 0n) }))
    .filter((s) => s.standards.length > 0);
  return (
    <section aria-labelledby="standards">
      <h2 id="standards">{t.standardsTitle}</h2>
      <p>{t.standardsIntro}</p>
      {measured.map(({ service, standards }) => {
        const name = loc(service.displayName, lang);
        return (
          <figure key={service.name} class="figure">
            <figcaption>{name}</figcaption>
            <BarChart
              label={`${t.standardsTitle}: ${name}`}
              categories={standards.map((s) => standardLabel(s, lang))}
              series={[
                { label: t.target, values: standards.map((s) => s.target ?? 0) },
                { label: t.published, values: standards.map((s) => s.performance ?? 0) },
                { label: t.live, values: standards.map((s) => s.livePerformance?.performance ?? 0) },
              ]}
              max={1}
              percent
            />
            <table>
              <caption class="visually-hidden">{`${t.standardsTitle}: ${name}`}</caption>
              <thead>
                <tr>
                  <th scope="col">{t.standard}</th>
                  <th scope="col">{t.target}</th>
                  <th scope="col">{t.published}</th>
                  <th scope="col">{t.live}</th>
                  <th scope="col">{t.completedLegs}</th>
                </tr>
              </thead>
              <tbody>
                {standards.map((s) => (
                  <tr key={s.name}>
                    <th scope="row">{loc(s.text, lang)}</th>
                    <td>{percent(s.target, lang)}</td>
                    <td>{percent(s.performance, lang)}</td>
                    <td>{percent(s.livePerformance?.performance, lang)}</td>
                    <td>{String(s.livePerformance?.completed ?? 0n)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </figure>
        );
      })}
    </section>
  );
}

function Declines({ report }: { report: PublicReport }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const pairs = report.wrongDoors;
  const label = (w: WrongDoorRow) => `${w.fromAgency ? agencyName(w.fromAgency) : t.portals} → ${agencyName(w.toAgency)}`;
  const shown = pairs.filter((w) => w.suppression === Suppression.UNSPECIFIED);
  return (
    <section aria-labelledby="declines">
      <h2 id="declines">{t.declineTitle}</h2>
      <p>{t.declineIntro}</p>
      {pairs.length === 0 ? (
        <p>{t.noDeclines}</p>
      ) : (
        <>
          {shown.length > 0 && (
            <BarChart
              label={t.declineChartLabel}
              categories={shown.map(label)}
              series={[{ label: t.declineRate, values: shown.map((w) => w.declineRate) }]}
              max={1}
              percent
            />
          )}
          <table>
            <caption class="visually-hidden">{t.declineChartLabel}</caption>
            <thead>
              <tr>
                <th scope="col">{t.handedOnBy}</th>
                <th scope="col">{t.handedTo}</th>
                <th scope="col">{t.answeredLegs}</th>
                <th scope="col">{t.declinedLegs}</th>
                <th scope="col">{t.declineRate}</th>
              </tr>
            </thead>
            <tbody>
              {pairs.map((w) => (
                <tr key={`${w.fromAgency}-${w.toAgency}`}>
                  <th scope="row">{w.fromAgency ? agencyName(w.fromAgency) : t.portals}</th>
                  <td>{agencyName(w.toAgency)}</td>
                  {w.suppression !== Suppression.UNSPECIFIED ? (
                    <td colSpan={3}>
                      {t.withheld}: {t.suppressionName[w.suppression]}
                    </td>
                  ) : (
                    <>
                      <td>{String(w.answered)}</td>
                      <td>{String(w.declined)}</td>
                      <td>{percent(w.declineRate, lang)}</td>
                    </>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
    </section>
  );
}

function Channels({ channels }: { channels: ServiceChannels[] }) {
  const { t, lang } = useLang();
  const withRequests = channels.filter((c) => c.overall.some((f) => f.requests > 0n));
  if (withRequests.length === 0) return null;
  return (
    <section aria-labelledby="channels">
      <h2 id="channels">{t.channelsTitle}</h2>
      <p>{t.channelsIntro}</p>
      {withRequests.map((c) => {
        const name = loc(c.displayName, lang);
        const used = c.overall.filter((f) => f.requests > 0n);
        return (
          <figure key={c.service} class="figure">
            <figcaption>{name}</figcaption>
            <BarChart
              label={t.channelsChartLabel(name)}
              categories={used.map((f) => t.channelName[f.channel])}
              series={[{ label: t.share, values: used.map((f) => f.share) }]}
              max={1}
              percent
            />
          </figure>
        );
      })}
      <table>
        <caption class="visually-hidden">{t.channelsTitle}</caption>
        <thead>
          <tr>
            <th scope="col">{t.service}</th>
            <th scope="col">{t.channel}</th>
            <th scope="col">{t.requestsCount}</th>
            <th scope="col">{t.share}</th>
          </tr>
        </thead>
        <tbody>
          {withRequests.flatMap((c) =>
            c.overall.map((f) => (
              <tr key={`${c.service}-${f.channel}`}>
                <th scope="row">{loc(c.displayName, lang)}</th>
                <td>{t.channelName[f.channel]}</td>
                <td>{String(f.requests)}</td>
                <td>{percent(f.share, lang)}</td>
              </tr>
            )),
          )}
        </tbody>
      </table>
    </section>
  );
}

function Actions({ report }: { report: PublicReport }) {
  const { t, lang } = useLang();
  return (
    <section aria-labelledby="actions">
      <h2 id="actions">{t.actionsTitle}</h2>
      <p>{t.actionsIntro}</p>
      {report.actions.length === 0 ? (
        <p>{t.noActions}</p>
      ) : (
        <ul class="actions">
          {report.actions.map((a) => (
            <li key={a.warning}>
              <p>
                <strong>{t.warning}:</strong> {loc(a.summary, lang)}
              </p>
              <p>
                <strong>{t.action}:</strong> {a.action}
              </p>
              <p class="meta">
                {a.agency}
                {a.acknowledgeTime && ` · ${dateTime(Number(a.acknowledgeTime.seconds) * 1000, lang)}`}
              </p>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
