/**
 * Entra ID sign-in with MSAL.js: authorization code flow with PKCE (MSAL's only flow for SPAs),
 * redirect rather than popup (popups are blocked in many enterprise browsers). Tokens stay in
 * sessionStorage, scoped to this tab, and are renewed silently.
 */
import {
  InteractionRequiredAuthError,
  PublicClientApplication,
  type AccountInfo,
} from "@azure/msal-browser";
import type { Auth } from "./auth";

export interface EntraSettings {
  clientId: string;
  tenantId: string;
  apiScope: string;
}

export class EntraAuth implements Auth {
  readonly mode = "entra" as const;

  private constructor(
    private readonly msal: PublicClientApplication,
    private readonly settings: EntraSettings,
  ) {}

  static async create(settings: EntraSettings): Promise<EntraAuth> {
    const msal = new PublicClientApplication({
      auth: {
        clientId: settings.clientId,
        authority: `https://login.microsoftonline.com/${settings.tenantId}`,
        redirectUri: window.location.origin,
        postLogoutRedirectUri: window.location.origin,
      },
      cache: { cacheLocation: "sessionStorage" },
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

  async token(): Promise<string | null> {
    const account = this.activeAccount();
    if (!account) return null;
    const request = { scopes: [this.settings.apiScope], account };
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
    const account = this.activeAccount();
    await this.msal.logoutRedirect(account ? { account } : undefined);
  }
}
