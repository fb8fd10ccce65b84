/// <reference types="vite/client" />
// The build-time settings this UI reads (see .env.example); Vite inlines them into the bundle.
interface ImportMetaEnv {
  readonly VITE_API_URL?: string;
  readonly VITE_WS_URL?: string;
  readonly VITE_AUTH_MODE?: string;
  readonly VITE_ENTRA_CLIENT_ID?: string;
  readonly VITE_ENTRA_TENANT_ID?: string;
  readonly VITE_API_SCOPE?: string;
  readonly VITE_DICTATION?: string;
}
