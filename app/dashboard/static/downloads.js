// The download buttons of a page: the totals export (GET /api/v1/exports/totals.csv|xlsx)
// with exactly the filters and grouping of the figures on the screen.

import { download } from "./api.js";
import { el, fill, status } from "./dom.js";
import { t } from "./i18n.js";
import { errorMessage } from "./page.js";

const FORMATS = ["csv", "xlsx"];

/** Fills the element `id` with one button per format; `params` are the /totals query of
 * the view (year, country, crisis_id, sector, division, phase, group_by). */
export function downloadButtons(id, params, user) {
  const buttons = FORMATS.map((format) =>
    el(
      "button",
      {
        type: "button",
        class: "download",
        dataset: { format },
        onclick: async (event) => {
          const button = event.currentTarget;
          button.disabled = true;
          try {
            await download(`/exports/totals.${format}`, params);
          } catch (error) {
            status(errorMessage(error, user), "error");
          } finally {
            button.disabled = false;
          }
        },
      },
      t(`download.${format}`),
    ),
  );
  fill(id, el("span", { class: "download-label" }, t("download.label")), buttons);
}
