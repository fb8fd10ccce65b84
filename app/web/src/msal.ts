/**
 * Entra ID sign-in with MSAL.js: authorization code flow with PKCE (MSAL's only flow for SPAs),
 * redirect rather than popup (popups are blocked in many enterprise browsers). Tokens stay in
 * sessionStorage, scoped to this tab, and are renewed silently.
 *
 * The client declares the `CP1` capability (it handles claims challenges), and `stepUp` answers the
 * API's challenge for the production MFA context: a token requested with those claims, silently first
 * (Entra satisfies it when the session already did MFA), by redirect otherwise. Sources:
 * learn.microsoft.com/entra/identity-platform/claims-challenge and
 * learn.microsoft.com/entra/identity-platform/developer-guide-conditional-access-authentication-context.
 */
import {
  InteractionRequiredAuthError,
  ProtocolMode,
  PublicClientApplication,
  type AccountInfo,
} from "@azure/msal-browser";
import type { Auth } from "./auth";

export interface EntraSettings {
  clientId: string;
  tenantId: string;
  apiScope: string;
  /** e.g. https://login.microsoftonline.com/<tenant>; another host is treated as a plain OpenID provider. */
  authority: string;
}

/** Entra's clouds keep MSAL's Entra protocol; any other authority is a known OpenID Connect authority. */
export function msalAuthority(authority: string): { knownAuthorities: string[]; protocolMode: ProtocolMode } {
  const host = new URL(authority).host;
  const entra = /(^|\.)(microsoftonline\.(com|us)|microsoftonline\.cn|chinacloudapi\.cn)$/i.test(host);
  return entra
    ? { knownAuthorities: [], protocolMode: ProtocolMode.AAD }
    : { knownAuthorities: [host], protocolMode: ProtocolMode.OIDC };
}

/** The claims the API last asked for, kept for this tab so the voice socket's token carries them too. */
export const CLAIMS_KEY = "engram_claims_request";

export class EntraAuth implements Auth {
  readonly mode = "entra" as const;

  private constructor(
    private readonly msal: PublicClientApplication,
    private readonly settings: EntraSettings,
  ) {}

  static async create(settings: EntraSettings): Promise<EntraAuth> {
    const { knownAuthorities, protocolMode } = msalAuthority(settings.authority);
    const msal = new PublicClientApplication({
      auth: {
        clientId: settings.clientId,
        authority: settings.authority,
        knownAuthorities,
        redirectUri: window.location.origin,
        postLogoutRedirectUri: window.location.origin,
        clientCapabilities: ["CP1"], // we answer claims challenges (xms_cc: ["cp1"] in our tokens)
      },
      cache: { cacheLocation: "sessionStorage" },
      system: { protocolMode },
    });
    await msal.initialize();
    const result = await msal.handleRedirectPromise();
    const account = result?.account ?? msal.getAllAccounts()[0] ?? null;
    if (account) msal.setActiveAccount(account);
    if (result?.state) {
      // Back from the sign-in page: return to the panel the user started from.
      const target = decodeURIComponent(result.state);
      if (target.startsWith("/") && !target.startsWith("//")) window.history.replaceState(null, "", target);
    }
    return new EntraAuth(msal, settings);
  }

  private activeAccount(): AccountInfo | null {
    return this.msal.getActiveAccount();
  }

  /** The scope, plus the API's last claims request (MFA context) once it made one. */
  private request(account: AccountInfo, claims?: string) {
    const asked = claims ?? window.sessionStorage.getItem(CLAIMS_KEY) ?? undefined;
    return { scopes: [this.settings.apiScope], account, ...(asked ? { claims: asked } : {}) };
  }

  async token(): Promise<string | null> {
    const account = this.activeAccount();
    if (!account) return null;
    const request = this.request(account);
    try {
      return (await this.msal.acquireTokenSilent(request)).accessToken;
    } catch (error) {
      if (error instanceof InteractionRequiredAuthError) {
        await this.msal.acquireTokenRedirect({ ...request, state: encodeURIComponent(window.location.pathname) });
        return null;
      }
      throw error;
    }
  }

  async stepUp(claims: string, interactive = false): Promise<string | null> {
    const account = this.activeAccount();
    if (!account) return null;
    window.sessionStorage.setItem(CLAIMS_KEY, claims); // every later token asks for it (silently)
    const request = this.request(account, claims);
    if (!interactive) {
      try {
        return (await this.msal.acquireTokenSilent(request)).accessToken;
      } catch (error) {
        if (!(error instanceof InteractionRequiredAuthError)) throw error;
      }
    }
    // The identity provider must see the user (MFA): back here afterwards, on the same panel.
    await this.msal.acquireTokenRedirect({ ...request, state: encodeURIComponent(window.location.pathname) });
    return null;
  }

  account(): string {
    const account = this.activeAccount();
    return account ? (account.name ?? account.username) : "";
  }

  async signIn(): Promise<void> {
    await this.msal.loginRedirect({
      scopes: [this.settings.apiScope],
      state: encodeURIComponent(window.location.pathname),
    });
  }

  async signOut(): Promise<void> {
    window.sessionStorage.removeItem(CLAIMS_KEY);
    const account = this.activeAccount();
    // id_token_hint: OpenID RP-Initiated Logout honours post_logout_redirect_uri only with it (Entra too).
    await this.msal.logoutRedirect(account ? { account, idTokenHint: account.idToken } : undefined);
  }
}
