// Every word the dashboard shows, in IOM's three working languages. Registered on import;
// read with t(key, params) from i18n.js.

import { register } from "./i18n.js";

register({
  en: {
    "shell.nav": "Dashboard",
    "shell.page.overview": "Overview",
    "shell.page.country": "Countries",
    "shell.page.completeness": "Reporting completeness",
    "shell.page.sitrep": "New sitrep",
    "shell.page.sitreps": "My sitreps",
    "shell.page.upload": "Upload sheet",
    "shell.language": "Language",
    "shell.signOut": "Sign out",
    "shell.role.admin": "admin",
    "shell.role.hq": "hq",
    "shell.role.field": "field",
    "shell.role.coordinator": "coordinator",
  },
  fr: {
    "shell.nav": "Tableau de bord",
    "shell.page.overview": "Vue d’ensemble",
    "shell.page.country": "Pays",
    "shell.page.completeness": "Complétude des rapports",
    "shell.page.sitrep": "Nouveau sitrep",
    "shell.page.sitreps": "Mes sitreps",
    "shell.page.upload": "Importer un tableur",
    "shell.language": "Langue",
    "shell.signOut": "Se déconnecter",
    "shell.role.admin": "administration",
    "shell.role.hq": "siège",
    "shell.role.field": "terrain",
    "shell.role.coordinator": "coordination",
  },
  es: {
    "shell.nav": "Panel",
    "shell.page.overview": "Resumen",
    "shell.page.country": "Países",
    "shell.page.completeness": "Completitud de los informes",
    "shell.page.sitrep": "Nuevo sitrep",
    "shell.page.sitreps": "Mis sitreps",
    "shell.page.upload": "Subir hoja de cálculo",
    "shell.language": "Idioma",
    "shell.signOut": "Cerrar sesión",
    "shell.role.admin": "administración",
    "shell.role.hq": "sede",
    "shell.role.field": "terreno",
    "shell.role.coordinator": "coordinación",
  },
});
