use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

use super::*;

/// A self-signed certificate with `subject` (in certificate order, root first) and `sans`.
fn cert(subject: &[(DnType, &str)], sans: Vec<SanType>) -> Vec<u8> {
    let mut p = CertificateParams::new(Vec::<String>::new()).unwrap();
    p.distinguished_name = DistinguishedName::new();
    for (t, v) in subject {
        p.distinguished_name.push(t.clone(), *v);
    }
    p.subject_alt_names = sans;
    p.self_signed(&KeyPair::generate().unwrap())
        .unwrap()
        .der()
        .to_vec()
}

fn client_with(attrs: &[(&str, &str)]) -> OAuthClient {
    OAuthClient {
        credential_id: "key_1".into(),
        prefix: "pcl_1".into(),
        app_id: "app_1".into(),
        app_name: "a".into(),
        developer_id: "dev_1".into(),
        developer_email: "d@example.com".into(),
        callback_urls: vec![],
        app_attributes: attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        products: vec![],
    }
}

fn expect(attr: &str, value: &str) -> Expected {
    Expected::of(&client_with(&[(attr, value)])).unwrap()
}

#[test]
fn rfc4514_strings_parse_with_escapes_types_and_multivalued_rdns() {
    let a = Dn::parse("CN=Client\\, One,OU=Ops+O=Example,C=DE").unwrap();
    let b = Dn::parse(" cn = client,  one ,o=EXAMPLE+ou=ops , 2.5.4.6=de").unwrap();
    assert_ne!(a, b, "the unescaped comma splits an RDN");
    let c = Dn::parse("cn=client\\2c  one,o=EXAMPLE+ou=ops,OID.2.5.4.6=de").unwrap();
    assert_eq!(a, c);
    for bad in ["", "CN", "CN=", "=x", "CN=a,", "CN=#0403", "CN=a\\"] {
        assert!(Dn::parse(bad).is_none(), "{bad}");
    }
}

#[test]
fn subject_dn_matches_in_rfc4514_order_only() {
    let der = cert(
        &[
            (DnType::CountryName, "DE"),
            (DnType::OrganizationName, "Example GmbH"),
            (DnType::CommonName, "payments-client"),
        ],
        vec![],
    );
    assert!(
        expect(
            SUBJECT_DN_ATTRIBUTE,
            "CN=payments-client,O=Example GmbH,C=DE"
        )
        .matches(&der)
    );
    assert!(
        expect(
            SUBJECT_DN_ATTRIBUTE,
            "cn=PAYMENTS-client, o=example  gmbh, c=de"
        )
        .matches(&der)
    );
    // Certificate order (root first) is not the RFC 4514 form.
    assert!(
        !expect(
            SUBJECT_DN_ATTRIBUTE,
            "C=DE,O=Example GmbH,CN=payments-client"
        )
        .matches(&der)
    );
    assert!(!expect(SUBJECT_DN_ATTRIBUTE, "CN=payments-client,O=Example GmbH").matches(&der));
    assert!(!expect(SUBJECT_DN_ATTRIBUTE, "CN=other,O=Example GmbH,C=DE").matches(&der));
}

#[test]
fn sans_match_by_kind() {
    let der = cert(
        &[(DnType::CommonName, "x")],
        vec![
            SanType::DnsName("client.example.com".try_into().unwrap()),
            SanType::URI("spiffe://example.com/payments".try_into().unwrap()),
            SanType::IpAddress("10.1.2.3".parse().unwrap()),
            SanType::Rfc822Name("Ops@Example.com".try_into().unwrap()),
        ],
    );
    assert!(expect(SAN_DNS_ATTRIBUTE, "CLIENT.example.com").matches(&der));
    assert!(!expect(SAN_DNS_ATTRIBUTE, "other.example.com").matches(&der));
    assert!(!expect(SAN_DNS_ATTRIBUTE, "example.com").matches(&der));
    assert!(expect(SAN_URI_ATTRIBUTE, "spiffe://example.com/payments").matches(&der));
    assert!(!expect(SAN_URI_ATTRIBUTE, "spiffe://example.com/payment").matches(&der));
    assert!(expect(SAN_IP_ATTRIBUTE, "10.1.2.3").matches(&der));
    assert!(!expect(SAN_IP_ATTRIBUTE, "10.1.2.4").matches(&der));
    assert!(!expect(SAN_IP_ATTRIBUTE, "::ffff:10.1.2.3").matches(&der));
    assert!(expect(SAN_EMAIL_ATTRIBUTE, "Ops@example.COM").matches(&der));
    assert!(!expect(SAN_EMAIL_ATTRIBUTE, "ops@example.com").matches(&der));
    // A DNS name in the subject CN is not a SAN.
    assert!(!expect(SAN_DNS_ATTRIBUTE, "x").matches(&der));
    assert!(!expect(SAN_DNS_ATTRIBUTE, "x").matches(b"not a certificate"));
}

#[test]
fn exactly_one_valid_identity_attribute_is_required() {
    assert!(Expected::of(&client_with(&[])).is_none());
    assert!(
        Expected::of(&client_with(&[
            (SAN_DNS_ATTRIBUTE, "a.example.com"),
            (SAN_URI_ATTRIBUTE, "https://a.example.com"),
        ]))
        .is_none()
    );
    assert!(Expected::of(&client_with(&[(SAN_IP_ATTRIBUTE, "not-an-ip")])).is_none());
    assert!(Expected::of(&client_with(&[(SUBJECT_DN_ATTRIBUTE, "garbage")])).is_none());
    assert!(Expected::of(&client_with(&[(SAN_DNS_ATTRIBUTE, "  ")])).is_none());
}

#[test]
fn thumbprint_is_base64url_sha256_of_the_der() {
    let p = PeerCertificate::new(b"abc");
    assert_eq!(p.x5t(), "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");
}
