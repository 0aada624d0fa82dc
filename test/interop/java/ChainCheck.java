/*
 * What a Java application server does with a client certificate: PKIX validation with the JDK's
 * defaults and revocation checking on, for the whole chain. Run as a single-file program (no
 * build step):
 *
 *   java -Dcom.sun.security.enableCRLDP=true ChainCheck.java ROOT.pem ISSUING.pem LEAF.pem
 *
 * The trust anchor is the root; the path is LEAF, ISSUING. OCSP is enabled (security property
 * ocsp.enable), so the leaf is checked at the OCSP URL its AIA names; the issuing CA has no OCSP
 * URL, so its status comes from the CRL at its distribution point (the root's ARL), fetched by the
 * JDK itself (com.sun.security.enableCRLDP). Prints VALID, REVOKED, or INVALID: reason.
 * Exit code: 0 VALID, 1 REVOKED, 2 INVALID.
 */
import java.io.FileInputStream;
import java.io.InputStream;
import java.security.Security;
import java.security.cert.CertPath;
import java.security.cert.CertPathValidator;
import java.security.cert.CertPathValidatorException;
import java.security.cert.CertificateFactory;
import java.security.cert.PKIXParameters;
import java.security.cert.TrustAnchor;
import java.security.cert.X509Certificate;
import java.util.List;
import java.util.Set;

public class ChainCheck {
  static X509Certificate read(CertificateFactory cf, String path) throws Exception {
    try (InputStream in = new FileInputStream(path)) {
      return (X509Certificate) cf.generateCertificate(in);
    }
  }

  public static void main(String[] args) throws Exception {
    if (args.length != 3) {
      System.err.println("usage: java ChainCheck.java ROOT.pem ISSUING.pem LEAF.pem");
      System.exit(64);
    }
    Security.setProperty("ocsp.enable", "true");
    CertificateFactory cf = CertificateFactory.getInstance("X.509");
    X509Certificate root = read(cf, args[0]);
    X509Certificate issuing = read(cf, args[1]);
    X509Certificate leaf = read(cf, args[2]);
    CertPath path = cf.generateCertPath(List.of(leaf, issuing));
    PKIXParameters params = new PKIXParameters(Set.of(new TrustAnchor(root, null)));
    params.setRevocationEnabled(true);
    try {
      CertPathValidator.getInstance("PKIX").validate(path, params);
      System.out.println("VALID");
      System.exit(0);
    } catch (CertPathValidatorException e) {
      if (e.getReason() == CertPathValidatorException.BasicReason.REVOKED) {
        System.out.println("REVOKED: " + e.getMessage());
        System.exit(1);
      }
      System.out.println("INVALID: " + e.getReason() + ": " + e.getMessage() + " (index " + e.getIndex() + ")");
      System.exit(2);
    }
  }
}
