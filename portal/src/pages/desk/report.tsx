// The agency's satisfaction report: per service this quarter, the legs ended, responses, share
// satisfied and each driver's mean, suppressed by the same rules as every report.

import { clients, type Session } from "../../api.js";
import { useLoad } from "../../async.js";
import { PageTitle, Show } from "../../components/common.js";
import { ReportGrouping, Suppression, type ReportGroup } from "../../gen/singlewindow/v1/feedback_service_pb.js";
import { decimal, percent, useLang } from "../../i18n.js";
import { useAgencyName } from "../../names.js";
import { quarters } from "../../time.js";
import { DeskNav } from "./nav.js";
import { agencyOf } from "./queue.js";

type OfficerSession = Extract<Session, { kind: "officer" }>;

export function Report({ session }: { session: OfficerSession }) {
  const { t, lang } = useLang();
  const agencyName = useAgencyName(lang);
  const agency = agencyOf(session.principal);
  const [loaded, reload] = useLoad(
    () => clients(session).feedback.getSatisfactionReport({ grouping: ReportGrouping.SERVICE, quarter: quarters(1)[0] }),
    [session.key],
  );
  return (
    <>
      <PageTitle>{t.reportTitle(agencyName(agency))}</PageTitle>
      <DeskNav path="/desk/report" />
      <p>{t.reportIntro}</p>
      <Show loaded={loaded} onRetry={reload}>
        {(report) => (
          <>
            <p class="notice">{t.suppressionRule(report.minimumRespondents)}</p>
            <table>
              <caption>{t.reportTitle(agencyName(agency))} · {report.quarter}</caption>
              <thead>
                <tr>
                  <th scope="col">{t.service}</th>
                  <th scope="col">{t.ended}</th>
                  <th scope="col">{t.responses}</th>
                  <th scope="col">{t.shareSatisfied}</th>
                  <th scope="col">{t.driverName[1]}</th>
                  <th scope="col">{t.driverName[2]}</th>
                </tr>
              </thead>
              <tbody>
                {report.groups.map((g) => (
                  <Row key={g.key?.service} group={g} label={g.key?.service ?? ""} />
                ))}
                {report.total && <Row group={report.total} label={t.total} />}
              </tbody>
            </table>
          </>
        )}
      </Show>
    </>
  );

  function Row({ group, label }: { group: ReportGroup; label: string }) {
    const mean = (driver: number) => group.drivers.find((d) => d.driver === driver)?.mean ?? 0;
    return (
      <tr>
        <th scope="row">{label}</th>
        {group.suppression !== Suppression.UNSPECIFIED ? (
          <td colSpan={5}>
            {t.withheld}: {t.suppressionName[group.suppression]}
          </td>
        ) : (
          <>
            <td>{String(group.ended)}</td>
            <td>{String(group.responses)}</td>
            <td>{percent(group.shareSatisfied, lang)}</td>
            <td>{decimal(mean(1), lang)}</td>
            <td>{decimal(mean(2), lang)}</td>
          </>
        )}
      </tr>
    );
  }
}
